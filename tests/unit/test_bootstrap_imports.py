"""The deployment's bootstrap runs from the product image: it needs nothing of devstack/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_bootstrap_imports_nothing_from_devstack() -> None:
    """tools/bootstrap.py takes the search attributes from messages/, not from devstack/,
    directly or through anything it imports."""
    probe = (
        "import sys, tools.bootstrap; "
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'devstack'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
