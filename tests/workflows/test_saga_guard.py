"""The saga's own code is guarded: a nondeterministic call added to it is refused.

A copy of the real ``workflows`` package, one call added, loaded by name as the orders
worker loads it and run on the workers' runner (workers/sandbox.py). Kept apart from
test_workflow_sandbox.py: the sandbox imports a test module that defines a workflow, and
this one's helpers (copying files) are refused there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from config.settings import load_settings
from messages import sdk_private
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import SagaResult
from messages.sdk_private import SDK_VERSIONS, lean_runner_type, workflow_runner
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order
from workers.sandbox import WORKFLOW_RUNNER, runner_for

# A copy of the real workflow package, a line added to it: (file, line it goes before).
WORKFLOWS_DIR = Path(__file__).resolve().parents[2] / "workflows"
RUN_STEP = ("saga_steps.py", "    result: ResultT = await workflow.execute_activity_method(\n")
SAGA_RUN = ("order_saga.py", "        order, state = saga.order, self._state\n")
# A call each: the import it needs, the call, what the refusal names.
CALLS = {
    "clock": ("from datetime import datetime", "datetime.now()", "datetime.datetime.now"),
    "uuid4": ("import uuid", "uuid.uuid4()", "uuid.uuid4"),
    "random": ("import random", "random.random()", "random.random"),
}

LoadWorkflows = Callable[[tuple[str, str] | None, str | None], Sequence[type]]


@pytest.fixture
def copied_workflows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LoadWorkflows:
    """Loads ``workflows`` from a copy, one call added, as the worker loads it (by name).

    The host's modules and the sandbox's both come from the copy; pytest puts the real
    ones back afterwards.
    """

    def load(where: tuple[str, str] | None, call: str | None) -> Sequence[type]:
        copy = tmp_path / "workflows"
        shutil.copytree(WORKFLOWS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
        if where is not None and call is not None:
            filename, before = where
            source = (copy / filename).read_text()
            assert source.count(before) == 1, f"{filename} changed: place the call anew"
            needs, line, _ = CALLS[call]
            indent = before[: len(before) - len(before.lstrip())]
            source = source.replace(before, f"{indent}{line}\n{before}")
            future = "from __future__ import annotations\n"
            source = source.replace(future, f"{future}\n{needs}\n", 1)
            (copy / filename).write_text(source)
        for name in [n for n in sys.modules if n == "workflows" or n.startswith("workflows.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.syspath_prepend(str(tmp_path))
        workflows: Sequence[type] = importlib.import_module("workflows").WORKFLOWS
        return workflows

    return load


def _fresh_runner() -> SandboxedWorkflowRunner:
    # The workers' runner as built, but its own: it imports the workflow modules (from the
    # copy) instead of reusing those another test's run left it.
    assert isinstance(WORKFLOW_RUNNER, lean_runner_type())
    return dataclasses.replace(WORKFLOW_RUNNER)


def _sdk_runner() -> SandboxedWorkflowRunner:
    # The runner the orders worker gets when Settings turn the lean one off.
    runner = runner_for(lean=False)
    assert type(runner) is SandboxedWorkflowRunner
    return runner


async def _first_task_failure(handle: WorkflowHandle[Any, Any], within: float = 60.0) -> Failure:
    """The saga's first failed workflow task; fails the test if the saga ends without one."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                return event.workflow_task_failed_event_attributes.failure
        status = (await handle.describe()).status
        if status is not None and status != WorkflowExecutionStatus.RUNNING:
            raise AssertionError(f"the saga ended {status.name} and nothing refused the call")
        await asyncio.sleep(0.2)
    raise AssertionError(f"no workflow task failed within {within} s")


@pytest.mark.parametrize(
    ("call", "where", "runner"),
    [
        ("clock", RUN_STEP, _fresh_runner),
        ("uuid4", RUN_STEP, _fresh_runner),
        ("random", RUN_STEP, _fresh_runner),
        ("clock", SAGA_RUN, _fresh_runner),
        ("clock", RUN_STEP, _sdk_runner),
    ],
    ids=[
        "clock-in-saga_steps",
        "uuid4-in-saga_steps",
        "random-in-saga_steps",
        "clock-in-saga",
        "clock-in-saga_steps-lean-runner-off",
    ],
)
async def test_a_nondeterministic_call_in_the_saga_fails_its_workflow_task(
    temporal_client: Client,
    copied_workflows: LoadWorkflows,
    call: str,
    where: tuple[str, str],
    runner: Callable[[], SandboxedWorkflowRunner],
) -> None:
    """datetime.now(), uuid.uuid4() or random.random() added to the saga's own modules (the
    workflow module, or saga_steps on every step's path) is refused by the workers' runner,
    the lean one or the SDK's own that Settings can choose instead: the workflow task fails
    with RestrictedWorkflowAccessError naming the call."""
    workflows = copied_workflows(where, call)
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order().model_copy(update={"queues": queues})
    async with saga_workers(
        temporal_client, FakeActivities(), queues, workflows=workflows, runner=runner()
    ):
        handle = await temporal_client.start_workflow(
            "OrderSaga",
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
        )
        try:
            failure = await _first_task_failure(handle)
        finally:
            # A refused saga retries its task until ended; one that completed is over.
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")
    assert failure.application_failure_info.type == "RestrictedWorkflowAccessError"
    assert f"Cannot access {CALLS[call][2]}" in failure.message


async def test_the_copied_saga_completes_without_a_bad_call(
    temporal_client: Client, copied_workflows: LoadWorkflows
) -> None:
    """The same copy and runner, nothing added: the saga confirms the order, so the refusal
    above is the added call's."""
    workflows = copied_workflows(None, None)
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order().model_copy(update={"queues": queues})
    async with saga_workers(
        temporal_client, FakeActivities(), queues, workflows=workflows, runner=_fresh_runner()
    ):
        result = await temporal_client.execute_workflow(
            "OrderSaga",
            saga,
            id=order_workflow_id(saga.order.order_id),
            task_queue=queues.orders,
            result_type=SagaResult,
        )
    assert result.status == "CONFIRMED"


def _never_built() -> type[SandboxedWorkflowRunner]:
    raise AssertionError("the lean runner's SDK internals were imported")


def test_another_sdk_version_gets_the_sdks_own_runner(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean runner reads SDK internals: on a version it was not read against, the worker
    logs it and runs the SDK's own sandboxed runner, without importing those internals. It
    is the runner Settings choose when they turn the lean one off, whose guard is proved
    above (``clock-in-saga_steps-lean-runner-off``)."""
    monkeypatch.setattr(sdk_private, "lean_runner_type", _never_built)
    with caplog.at_level(logging.WARNING, logger="messages.sdk_private"):
        runner = workflow_runner(sdk_version="1.99.0")
    assert type(runner) is SandboxedWorkflowRunner
    assert runner.restrictions == SandboxRestrictions.default.with_passthrough_modules(
        *sdk_private.PASSED_THROUGH
    )
    assert "temporalio 1.99.0" in caplog.text


def test_settings_turn_the_lean_runner_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """ORDERS_WORKERS__LEAN_WORKFLOW_RUNNER=false: the SDK's own runner (its guard is proved
    above), the lean runner's internals never imported."""
    monkeypatch.setenv("ORDERS_WORKERS__LEAN_WORKFLOW_RUNNER", "false")
    monkeypatch.setattr(sdk_private, "lean_runner_type", _never_built)
    workers = load_settings().workers
    assert type(runner_for(lean=workers.lean_workflow_runner)) is SandboxedWorkflowRunner


def test_the_lean_runner_is_the_default_on_a_version_it_was_read_against() -> None:
    """By default, on the SDK versions it was read against, the worker runs the lean runner."""
    # An upgraded SDK: read messages/sdk_private.py against it, then list its version.
    assert sdk_private.SDK_VERSION in SDK_VERSIONS
    workers = load_settings().workers
    assert workers.lean_workflow_runner
    assert isinstance(runner_for(lean=workers.lean_workflow_runner), lean_runner_type())
    assert isinstance(workflow_runner(sdk_version=min(SDK_VERSIONS)), lean_runner_type())
