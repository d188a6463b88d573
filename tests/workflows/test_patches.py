"""The patch registry (workflows/patches.py) against the committed histories and the code.

A patch id found in a committed history must stay registered and checked by workflow code,
or every saga carrying it fails to replay; each live id keeps a committed history that
records it and replays.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
from pathlib import Path
from types import ModuleType

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

import workflows
from clients.codec import data_converter
from config.settings import CodecSettings
from workers.sandbox import WORKFLOW_RUNNER
from workflows import WORKFLOWS, patches
from workflows.patches import REGISTRY, Patch

HISTORIES = Path(__file__).parent / "histories"
# Every committed history, of every workflow (the refund's sit in a folder of their own).
ALL_HISTORIES = sorted(HISTORIES.rglob("*.json"))
WORKFLOW_SOURCES = sorted(Path(workflows.__file__).parent.glob("*.py"))
LIVE = [entry for entry in REGISTRY if entry.retired is None]
RETIRED = [entry for entry in REGISTRY if entry.retired is not None]
# The SDK calls that read a patch marker (the id is their first argument).
PATCH_CALLS = {"patched", "deprecate_patch"}
# workflows/saga_steps.py's helpers that call ``patched(patch)`` with the id they are given.
PATCH_HELPERS = {"outliving_cancellation"}


def _inside_helper(arg: ast.expr | None) -> bool:
    """``patched(patch)`` inside a helper of PATCH_HELPERS: the parameter, not an id."""
    return isinstance(arg, ast.Name) and arg.id == "patch"


def _markers(path: Path) -> set[str]:
    """The patch ids a history's MarkerRecorded events carry."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    found = set()
    for event in history.events:
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            found |= {json.loads(p.data)["id"] for p in marker.details["patch-data"].payloads}
    return found


def _module(source: Path) -> ModuleType:
    name = "workflows" if source.stem == "__init__" else f"workflows.{source.stem}"
    return importlib.import_module(name)


def _checked_ids() -> dict[str, list[str]]:
    """Each patch id the workflow code passes to ``patched``/``deprecate_patch``, with where."""
    checked: dict[str, list[str]] = {}
    for source in WORKFLOW_SOURCES:
        module = _module(source)
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            where = f"{source.name}:{node.lineno}"
            if isinstance(node.func, ast.Name) and node.func.id in PATCH_HELPERS:
                # A helper that checks the id it is given (``patch=``): its callers name it.
                arg = next((k.value for k in node.keywords if k.arg == "patch"), None)
            elif isinstance(node.func, ast.Attribute) and node.func.attr in PATCH_CALLS:
                arg = node.args[0] if node.args else None
                if _inside_helper(arg):
                    continue
            else:
                continue
            # Ids are named by their constant in workflows/patches.py, never spelled inline.
            assert isinstance(arg, ast.Name), f"{where}: pass a constant from workflows.patches"
            assert hasattr(patches, arg.id), f"{where}: {arg.id} is not in workflows.patches"
            checked.setdefault(getattr(module, arg.id), []).append(where)
    return checked


def test_registry_ids_are_unique() -> None:
    """One entry per id: an id names one change for ever."""
    ids = [entry.id for entry in REGISTRY]
    assert len(ids) == len(set(ids))


def test_every_id_the_code_checks_is_registered_live() -> None:
    """A new patch gets its registry entry (and history) with the code that checks it."""
    assert set(_checked_ids()) <= {entry.id for entry in LIVE}


@pytest.mark.parametrize("path", ALL_HISTORIES, ids=lambda p: p.stem)
def test_every_id_in_a_committed_history_is_registered_and_checked(path: Path) -> None:
    """Removing or renaming the check of an id that a committed history carries fails here,
    naming the id, before any saga in production does."""
    recorded = _markers(path)
    live = {entry.id for entry in LIVE}
    assert recorded <= live, f"not in the registry (or retired): {recorded - live}"
    checked = set(_checked_ids())
    assert recorded <= checked, f"no workflow code checks: {recorded - checked}"


@pytest.mark.parametrize("entry", LIVE, ids=lambda entry: entry.id)
async def test_every_live_id_has_a_committed_history_that_records_it_and_replays(
    entry: Patch,
) -> None:
    """The registry names exactly the committed histories with the marker; there is at
    least one, and each replays on today's code."""
    carrying = {
        path.relative_to(HISTORIES).as_posix()
        for path in ALL_HISTORIES
        if entry.id in _markers(path)
    }
    assert entry.histories, f"{entry.id} has no committed history"
    assert set(entry.histories) == carrying
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=data_converter(CodecSettings()),
        workflow_runner=WORKFLOW_RUNNER,
    )
    for name in entry.histories:
        text = await asyncio.to_thread((HISTORIES / name).read_text)
        history = WorkflowHistory.from_json(f"replay-{name}", text)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)


@pytest.mark.parametrize("entry", RETIRED, ids=lambda entry: entry.id)
def test_a_retired_id_is_in_no_history_and_checked_nowhere(entry: Patch) -> None:
    """An id leaves the code only once no committed history carries it."""
    assert not entry.histories
    assert entry.id not in _checked_ids()
    assert not [p.name for p in ALL_HISTORIES if entry.id in _markers(p)]


def test_what_new_sagas_record_is_live_and_checked() -> None:
    """An id a saga started today records is one the code checks, not a retired one."""
    recorded = {entry.id for entry in REGISTRY if entry.new_sagas_record}
    assert recorded <= {entry.id for entry in LIVE}
    assert recorded <= set(_checked_ids())
