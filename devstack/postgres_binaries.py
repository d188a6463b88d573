"""Finding PostgreSQL's server binaries, the account to run them as when we are root, and
a data directory made with them (``initdb``); devstack/postgres.py runs the server.

PostgreSQL refuses to run as root. When we are root (containers, CI) the cluster runs as
an unprivileged user -- ``$ORDERS_PG_USER``, else the ``postgres`` system user that the
Debian package creates, else ``nobody`` -- through ``setpriv`` (util-linux), which execs
the server in place so that our process handle *is* the postmaster. The data directory is
handed to that user, and any ancestor directory that user cannot enter gets the
search (``o+x``) bit only: nobody gains the right to list or read anything.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.process import ServiceUnavailableError

log = logging.getLogger(__name__)

PG_BIN_ENV = "ORDERS_PG_BIN"
PG_USER_ENV = "ORDERS_PG_USER"
PG_LIB_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"

INSTALL_HINT = (
    "install the server with `apt-get update && apt-get install -y postgresql` "
    f"(or point {PG_BIN_ENV} at a directory holding initdb and postgres)"
)


def _has_server_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() for name in ("initdb", "postgres", "pg_ctl"))


def _version_key(directory: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<major>/bin: "15" -> (15,), "9.6" -> (9, 6)
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name)) or (0,)


def find_pg_bin() -> Path:
    """The directory with ``initdb`` and ``postgres``: ``$ORDERS_PG_BIN``, else the newest
    ``/usr/lib/postgresql/*/bin``, else whatever ``initdb`` is on ``PATH``."""
    override = os.environ.get(PG_BIN_ENV)
    if override:
        directory = Path(override)
        if _has_server_binaries(directory):
            return directory
        raise ServiceUnavailableError(
            f"{PG_BIN_ENV}={override} does not hold initdb, pg_ctl and postgres; {INSTALL_HINT}"
        )
    candidates = sorted(PG_LIB_ROOT.glob("*/bin"), key=_version_key, reverse=True)
    for directory in candidates:
        if _has_server_binaries(directory):
            return directory
    on_path = shutil.which("initdb")
    if on_path and _has_server_binaries(Path(on_path).parent):
        return Path(on_path).parent
    raise ServiceUnavailableError(f"PostgreSQL server binaries not found; {INSTALL_HINT}")


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account the server runs as when we are root."""

    name: str
    uid: int
    gid: int


def unprivileged_user() -> RunAs | None:
    """``None`` when we are not root (the server then simply runs as us)."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get(PG_USER_ENV)
    for name in [wanted] if wanted else ["postgres", "nobody"]:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise ServiceUnavailableError(f"{PG_USER_ENV}={name} is root; PostgreSQL refuses it")
        return RunAs(name, entry.pw_uid, entry.pw_gid)
    raise ServiceUnavailableError(
        "running as root and no unprivileged user to run PostgreSQL as "
        f"(tried {wanted or 'postgres, nobody'}); set {PG_USER_ENV} or create one with "
        "`useradd --system postgres`"
    )


@functools.cache
def _setpriv_supports_pdeathsig() -> bool:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return False
    result = subprocess.run([setpriv, "--help"], capture_output=True, text=True, check=False)
    return "--pdeathsig" in result.stdout


def command_prefix(run_as: RunAs | None, *, die_with_parent: bool) -> list[str]:
    """How to launch a server binary: as the unprivileged user, and (when asked) so that it
    gets SIGINT -- a fast shutdown -- if the process that started it dies without cleaning up.
    """
    setpriv = shutil.which("setpriv")
    pdeathsig = ["--pdeathsig", "INT"] if die_with_parent and _setpriv_supports_pdeathsig() else []
    if run_as is None:
        return [setpriv, *pdeathsig, "--"] if setpriv and pdeathsig else []
    if setpriv:
        ids = [f"--reuid={run_as.uid}", f"--regid={run_as.gid}", "--clear-groups"]
        return [setpriv, *ids, *pdeathsig, "--"]
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", run_as.name, "--"]
    raise ServiceUnavailableError(
        "running as root, and neither setpriv nor runuser (util-linux) is installed to drop "
        "privileges for PostgreSQL; `apt-get install util-linux`"
    )


def _can_search(path: Path, run_as: RunAs) -> bool:
    st = path.stat()
    if st.st_uid == run_as.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == run_as.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def grant_search_on_ancestors(path: Path, run_as: RunAs) -> None:
    """Let ``run_as`` walk down to ``path``: add ``o+x`` (enter, not list) where it is missing."""
    for ancestor in reversed(path.parents):
        if not _can_search(ancestor, run_as):
            mode = stat.S_IMODE(ancestor.stat().st_mode)
            log.warning("granting o+x on %s so %s can reach %s", ancestor, run_as.name, path)
            ancestor.chmod(mode | stat.S_IXOTH)


def chown_tree(root: Path, run_as: RunAs) -> None:
    os.chown(root, run_as.uid, run_as.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(Path(dirpath) / name, run_as.uid, run_as.gid, follow_symlinks=False)


def prepare_data_dir(data_dir: Path, run_as: RunAs | None) -> None:
    """Create ``data_dir`` and hand it to ``run_as`` (when we are root)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if run_as is None:
        return
    grant_search_on_ancestors(data_dir, run_as)
    if data_dir.stat().st_uid != run_as.uid:
        # Also heals a durable directory made earlier for another account.
        chown_tree(data_dir, run_as)
    data_dir.chmod(0o700)


def initdb(pg_bin: Path, data_dir: Path, run_as: RunAs | None, *, durable: bool) -> None:
    """A new cluster in the empty ``data_dir``: trust auth for the ``postgres`` superuser on
    loopback, UTF-8, the C locale; without ``durable`` not even initdb syncs."""
    if any(data_dir.iterdir()):
        raise ServiceUnavailableError(
            f"{data_dir} is neither empty nor a PostgreSQL data directory"
        )
    args = [
        str(pg_bin / "initdb"),
        f"--pgdata={data_dir}",
        f"--username={SUPERUSER}",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
    ]
    if not durable:
        args.append("--no-sync")
    command = [*command_prefix(run_as, die_with_parent=False), *args]
    # cwd=/ : initdb as the unprivileged user may not be allowed into our working directory.
    result = subprocess.run(command, capture_output=True, text=True, cwd="/", check=False)
    if result.returncode != 0:
        raise ServiceUnavailableError(
            f"initdb failed ({result.returncode}) in {data_dir}:\n{result.stdout}{result.stderr}"
        )


def postmaster_running(data_dir: Path) -> bool:
    """Whether the server whose pid file is in ``data_dir`` is alive (a stale file is not)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True
