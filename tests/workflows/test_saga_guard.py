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

from messages.queues import TaskQueues, order_workflow_id
from messages.saga import SagaResult
from tests.workflows.fakes import FakeActivities, saga_workers, sample_order
from workers.sandbox import (
    SDK_VERSIONS,
    WORKFLOW_RUNNER,
    LeanSandboxedWorkflowRunner,
    workflow_runner,
)

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
    assert isinstance(WORKFLOW_RUNNER, SandboxedWorkflowRunner)
    return dataclasses.replace(WORKFLOW_RUNNER)


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
    ("call", "where"),
    [("clock", RUN_STEP), ("uuid4", RUN_STEP), ("random", RUN_STEP), ("clock", SAGA_RUN)],
    ids=["clock-in-saga_steps", "uuid4-in-saga_steps", "random-in-saga_steps", "clock-in-saga"],
)
async def test_a_nondeterministic_call_in_the_saga_fails_its_workflow_task(
    temporal_client: Client,
    copied_workflows: LoadWorkflows,
    call: str,
    where: tuple[str, str],
) -> None:
    """datetime.now(), uuid.uuid4() or random.random() added to the saga's own modules (the
    workflow module, or saga_steps on every step's path) is refused by the workers' runner:
    the workflow task fails with RestrictedWorkflowAccessError naming the call."""
    workflows = copied_workflows(where, call)
    queues = TaskQueues.with_prefix(f"{uuid.uuid4()}-")
    saga = sample_order().model_copy(update={"queues": queues})
    async with saga_workers(
        temporal_client, FakeActivities(), queues, workflows=workflows, runner=_fresh_runner()
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


def test_another_sdk_version_gets_the_sdks_own_runner(caplog: pytest.LogCaptureFixture) -> None:
    """The lean runner reads SDK internals: on a version it was not written for, the worker
    logs it and runs the SDK's plain sandboxed runner with the default restrictions."""
    assert isinstance(workflow_runner(min(SDK_VERSIONS)), LeanSandboxedWorkflowRunner)
    with caplog.at_level(logging.WARNING, logger="workers.sandbox"):
        runner = workflow_runner("1.99.0")
    assert type(runner) is SandboxedWorkflowRunner
    assert runner.restrictions == SandboxRestrictions.default
    assert "temporalio 1.99.0" in caplog.text
