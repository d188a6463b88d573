"""The build ``make dev ARGS=--production`` runs as, and its promotion (docs/versioning.md).

With a build id the workers poll as a version of the Worker Deployment, and a new saga
goes to a versioned worker only once a version is current: the stack promotes its own
build with ``python -m tools.deploy promote`` as soon as its workers poll.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def checkout_build_id(repo: Path = Path()) -> str:
    """``dev-<short commit>``, ``-dirty`` with uncommitted changes; ``dev-nogit`` outside a
    checkout. A restart on another commit is a new build: sagas pinned to the last one wait
    for its workers (``python -m tools.deploy status`` lists them)."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=10"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "dev-nogit"
    return f"dev-{described}" if described else "dev-nogit"


def promote_when_polling(
    build_id: str,
    env: dict[str, str],
    say: Callable[[str], None],
    *,
    seconds: float = 120.0,
) -> str:
    """Promote ``build_id`` once its workers poll every queue; returns the tool's status."""
    command = [sys.executable, "-m", "tools.deploy", "promote", "--build-id", build_id]
    command += ["--wait", f"{seconds:g}"]
    say(f"promoting build {build_id} once its workers poll: {' '.join(command[1:])}")
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"promoting build {build_id} failed:\n{done.stdout}{done.stderr}")
    status = subprocess.run(
        [sys.executable, "-m", "tools.deploy", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return status.stdout.strip() or status.stderr.strip()
