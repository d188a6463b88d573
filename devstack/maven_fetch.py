"""Something resolved once from Maven Central into a cache folder (Kafka's jars, Keycloak's
server distribution), with the pom that names it.

The folder is filled in a staging folder beside it and renamed into place, with a marker
file holding the pom's digest: a second call only reads that file, a changed pom fetches
again, and concurrent callers serialise on a lock file beside the folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from devstack.process import ServiceUnavailableError

__all__ = ["MARKER_NAME", "fetch_once"]

MARKER_NAME = ".complete"


def _complete(folder: Path, digest: str) -> bool:
    try:
        return (folder / MARKER_NAME).read_text().strip() == digest
    except OSError:
        return False


def fetch_once(target: Path, pom: Path, fill: Callable[[str, Path], Path], how_to_get: str) -> Path:
    """``target``, filled by ``fill(mvn, staging)`` unless already complete for ``pom``.

    ``fill`` fetches into the empty staging folder and returns the folder (the staging
    folder or one inside it) that becomes ``target``; it checks what the fetched thing
    needs to run (Java) first, so a machine without it fails before the download."""
    target = target.expanduser().resolve()
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _complete(target, digest):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target, digest):  # another process finished meanwhile
            return target
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceUnavailableError(f"mvn not found; {how_to_get}")
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            filled = fill(mvn, staging)
            (filled / MARKER_NAME).write_text(digest + "\n")
            if target.exists():
                shutil.rmtree(target)
            filled.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
