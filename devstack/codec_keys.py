"""A payload-encryption key of a run's own, for stacks that run with production's checks.

Production refuses the public dev key (config/checks.py), so ``make dev ARGS=--production``
and production-like test stacks make their own, kept in the run folder: a stack started
again on the same folder still reads the histories it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from clients.codec import new_key

KEY_FILE = "codec-keys.json"
KEY_ID = "local-1"


def codec_env(run_dir: Path) -> dict[str, str]:
    path = run_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"keys": {KEY_ID: new_key()}, "active": KEY_ID}))
        path.chmod(0o600)
    stored = json.loads(path.read_text())
    return {
        "ORDERS_TEMPORAL__CODEC__KEYS": json.dumps(stored["keys"]),
        "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": stored["active"],
    }
