"""What the import contracts in pyproject.toml (``lint-imports``) cannot say themselves.

import-linter sees an outside package whole, so "activities import nothing of
``sqlalchemy.orm``" is checked here, on the source: activities reach the database only
through persistence/'s repositories, and an ORM session is what they must not open.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORM = ("sqlalchemy.orm", "sqlmodel")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _is_orm(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in ORM)


def test_the_orm_check_recognises_orm_imports(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text("import sqlalchemy as sa\nfrom sqlalchemy.orm import Session\n")
    assert {m for m in _imported_modules(source) if _is_orm(m)} == {"sqlalchemy.orm"}


def test_no_activity_imports_the_orm() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if _is_orm(m))
        for path in sorted((ROOT / "activities").rglob("*.py"))
    }
    assert {path: found for path, found in offenders.items() if found} == {}
