"""The Temporal SDK's private API is touched in one module only: messages/sdk_private.py.

Private means a module or a name of ``temporalio`` that starts with an underscore, imported
or reached as an attribute (``activity._Definition``, ``workflow.unsafe._set_in_sandbox``).
An SDK upgrade then has one file to read again, and that file checks the version.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = ROOT / "messages" / "sdk_private.py"
SKIPPED = {".venv", ".cache", ".run", ".git", "node_modules"}


def _sources() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not SKIPPED.intersection(path.relative_to(ROOT).parts)
    ]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_uses(source: str) -> list[str]:
    """Where ``source`` imports or reaches a private part of ``temporalio``."""
    tree = ast.parse(source)
    sdk_names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "temporalio":
                    if any(_private(part) for part in alias.name.split(".")):
                        found.append(f"{node.lineno}: import {alias.name}")
                    sdk_names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("temporalio"):
            parts = (node.module or "").split(".")
            for alias in node.names:
                if any(_private(part) for part in parts) or _private(alias.name):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                sdk_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in sdk_names:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_fence_touches_the_sdks_private_api() -> None:
    """No module but messages/sdk_private.py imports or reaches a private SDK name."""
    offenders = {
        str(path.relative_to(ROOT)): uses
        for path in _sources()
        if path != FENCE and (uses := _private_uses(path.read_text()))
    }
    assert offenders == {}


def test_the_check_sees_the_fences_own_private_uses() -> None:
    """The fence itself is caught by the same check, so the check can fail."""
    uses = _private_uses(FENCE.read_text())
    assert any("activity._Definition" in use for use in uses)
    assert any("workflow_sandbox._runner" in use for use in uses)
