"""A real Keycloak on loopback: the identity provider of the production topology and the tests.

The server distribution comes from devstack/keycloak_dist.py (fetched and unzipped once); each
run gets a home folder of its own under ``run_dir`` whose ``bin``, ``lib``, ``themes``,
``providers`` and ``conf`` point into that shared copy, and whose ``data`` (the dev file H2
database, the realm to import) is the run's own, so tests never share state with each other
or with a developer's stack. The realm ``orders`` (devstack/keycloak/realm-orders.json: its
clients, roles and demo users) is imported on the first start; a later start of the same
run folder keeps the database and skips the import.

Tokens carry the issuer ``http://127.0.0.1:<port>/realms/orders`` whatever host name a
client used (``--hostname`` pins it), since the API compares it exactly.

Command line (prints the address, the issuer and the demo users)::

    python -m devstack.keycloak --run-dir .run/keycloak [--port 8180]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
from pathlib import Path

import httpx

from config.api import AuthSettings
from devstack.kafka_libs import java_executable
from devstack.keycloak_client import ADMIN_USER, KeycloakClient
from devstack.keycloak_dist import ensure_keycloak_dist, first_start
from devstack.keycloak_realm import API_AUDIENCE, CLI_CLIENT, REALM_FILE, demo_users
from devstack.process import ManagedProcess, ManagedService, ServiceUnavailableError, free_port
from devstack.supervisor import StopRequest

# The first start creates the schema and imports the realm (~20 s here, ~30 s with the
# distribution's one-time augmentation); two cores shared with a test run can double that.
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
_SHARED_PARTS = ("lib", "themes", "providers", "conf")


class Keycloak(ManagedService, KeycloakClient):
    """One Keycloak (``kc.sh start-dev``) on 127.0.0.1; port and data kept across restarts."""

    stop_timeout = STOP_TIMEOUT

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        # No KeycloakClient.__init__: `url` and `admin_password` are derived here instead.
        self.run_dir = run_dir.resolve()
        self.port = port or free_port()
        self.home = self.run_dir / "home"
        self.log_path = self.run_dir / "keycloak.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_password(self) -> str:
        """The bootstrap admin's password: made on the first start, kept in the run folder,
        since Keycloak creates that admin only once per database."""
        path = self.run_dir / "admin-password"
        if not path.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(18))
        return path.read_text().strip()

    def settings_env(self) -> dict[str, str]:
        """What the API (and every process sharing its settings) needs to trust this realm's
        tokens: the same variables as devstack/jwks_issuer.py's, so either can back a stack."""
        return {
            "ORDERS_AUTH__JWKS_URL": self.jwks_url,
            "ORDERS_AUTH__ISSUER": self.issuer,
            "ORDERS_AUTH__AUDIENCE": API_AUDIENCE,
        }

    def auth_settings(self) -> AuthSettings:
        """The same trust as :meth:`settings_env`, as the settings object an in-process API
        takes (validated anew, so the algorithms follow the JWKS)."""
        return AuthSettings.model_validate(
            {
                name.removeprefix("ORDERS_AUTH__").lower(): value
                for name, value in self.settings_env().items()
            }
        )

    # -- the process --------------------------------------------------------------------------

    def _prepare_home(self, dist: Path) -> None:
        # kc.sh takes its home from its own resolved path: a copy (not a link) of it makes
        # this folder the home, so `data/` (database, import, tmp) is the run's own.
        (self.home / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy2(dist / "bin" / "kc.sh", self.home / "bin" / "kc.sh")
        for part in _SHARED_PARTS:
            link = self.home / part
            if link.is_symlink() and link.resolve() != (dist / part).resolve():
                link.unlink()
            if not link.is_symlink():
                link.symlink_to(dist / part, target_is_directory=True)
        imports = self.home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REALM_FILE, imports / REALM_FILE.name)

    def start(self, timeout: float = READY_TIMEOUT) -> Keycloak:
        if self.alive():
            return self
        dist = ensure_keycloak_dist()
        java = java_executable()
        self._prepare_home(dist)
        env = {
            "JAVA": java,
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }
        args = [
            str(self.home / "bin" / "kc.sh"),
            "start-dev",
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            f"--hostname={self.url}",
            "--import-realm",
        ]
        with first_start(dist):
            self._launch(ManagedProcess("keycloak", args, self.log_path, env, cwd=self.run_dir))
            try:
                self._wait_ready(self._ready, timeout, f"Keycloak (log: {self.log_path})", 0.5)
            except BaseException:
                self.stop()
                raise
        return self

    def _ready(self) -> bool:
        try:
            response = httpx.get(self.discovery_url, timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json().get("issuer") == self.issuer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".run/keycloak"))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    server = Keycloak(args.run_dir, port=args.port)
    stop = StopRequest()
    print("starting Keycloak (fetching it first if needed) …", flush=True)
    try:
        server.start()
    except ServiceUnavailableError as exc:
        raise SystemExit(str(exc)) from exc
    users = "\n".join(
        f"  {user.username:<6} password {user.password:<11} roles {', '.join(user.roles)}"
        for user in demo_users()
    )
    print(
        f"Keycloak   {server.url}  (admin console: {ADMIN_USER} / "
        f"{server.run_dir / 'admin-password'})\n"
        f"issuer     {server.issuer}\n"
        f"JWKS       {server.jwks_url}\n"
        f"token      {server.token_url}  (client {CLI_CLIENT}, password grant)\n"
        f"demo users:\n{users}\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    try:
        stop.wait_until_requested(lambda: server.pid is not None)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
