"""Activities reach the database only through the repositories of persistence/: no table
object, no ORM session, no SQLAlchemy of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ACTIVITIES = sorted((Path(__file__).parents[2] / "activities").glob("*.py"))
# The repositories' own layer: what an activity may not reach past.
FORBIDDEN = ("persistence.tables", "sqlmodel", "sqlalchemy")


def imported_modules(path: Path) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    return modules


def test_the_check_sees_the_activity_modules() -> None:
    assert {path.stem for path in ACTIVITIES} >= {"payments", "refunds", "inventory"}


@pytest.mark.parametrize("path", ACTIVITIES, ids=lambda path: path.stem)
def test_an_activity_imports_no_table_and_no_database_library(path: Path) -> None:
    reaching_past = [
        module
        for module in imported_modules(path)
        if any(module == banned or module.startswith(f"{banned}.") for banned in FORBIDDEN)
    ]
    assert reaching_past == []


def test_the_check_would_see_a_table_import(tmp_path: Path) -> None:
    module = tmp_path / "leaky.py"
    module.write_text("from persistence.tables import OrderRow\nimport sqlmodel\n")

    assert imported_modules(module) == [
        "persistence.tables",
        "persistence.tables.OrderRow",
        "sqlmodel",
    ]
