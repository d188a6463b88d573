"""No product module grows past 300 lines without saying why at its top.

Product modules are the ``.py`` files of every top-level package of the repository (a
folder with an ``__init__.py``), tests/ apart. A module over the limit passes only with a
one-line reason in a comment among its first ten lines, in this form::

    # size: one state machine, read best whole

Split the module instead where its parts are separate concerns; the reason is for the
rare module whose length is one thing.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 300
REASON = "# size:"
# A reason must say something: at least this many characters after the marker.
SHORTEST_REASON = 10


def product_modules(root: Path) -> list[Path]:
    packages = [
        folder
        for folder in sorted(root.iterdir())
        if (folder / "__init__.py").is_file() and folder.name != "tests"
    ]
    return [
        path
        for package in packages
        for path in sorted(package.rglob("*.py"))
        if "node_modules" not in path.parts
    ]


def has_reason(lines: list[str]) -> bool:
    for line in lines[:10]:
        stripped = line.strip()
        if stripped.startswith(REASON):
            return len(stripped[len(REASON) :].strip()) >= SHORTEST_REASON
    return False


def oversized(root: Path) -> dict[str, int]:
    found = {}
    for path in product_modules(root):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LIMIT and not has_reason(lines):
            found[str(path.relative_to(root))] = len(lines)
    return found


def test_a_long_module_passes_only_with_a_reason(tmp_path: Path) -> None:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = ["x = 1"] * LIMIT
    (package / "short.py").write_text("\n".join(body))
    (package / "long.py").write_text("\n".join(['"""A module."""', *body]))
    (package / "excused.py").write_text("\n".join(["# size: one table, read best whole", *body]))
    (package / "mumbled.py").write_text("\n".join(["# size: why", *body]))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_long.py").write_text("\n".join(body * 2))
    assert oversized(tmp_path) == {"shop/long.py": LIMIT + 1, "shop/mumbled.py": LIMIT + 1}


def test_no_product_module_is_over_the_limit_without_a_reason() -> None:
    assert oversized(ROOT) == {}
