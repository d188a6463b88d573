"""A worker's Temporal SDK metrics, as configured by clients/temporal.build_runtime, carry
the names the alert rules use: workflow task failures and schedule-to-start latencies."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from clients.temporal import build_runtime, connect_temporal
from config.settings import TemporalSettings
from devstack.stack import listen_port


@workflow.defn(name="AlwaysFailingTask")
class AlwaysFailingTask:
    """Raises a plain exception: Temporal fails the workflow task (and retries it)."""

    @workflow.run
    async def run(self) -> None:
        raise RuntimeError("a bug in workflow code")


async def _served(url: str, name: str) -> str:
    text = ""
    async with httpx.AsyncClient() as http, asyncio.timeout(30):
        while f"\n{name}{{" not in text:
            await asyncio.sleep(0.5)
            text = (await http.get(url)).text
    return text


async def test_workflow_task_failures_and_latencies_are_exported_under_the_alerted_names(
    temporal_settings: TemporalSettings,
) -> None:
    """A failing workflow task shows as temporal_workflow_task_execution_failed{task_queue,
    workflow_type} (no _total), and schedule-to-start latencies come in seconds."""
    address = f"127.0.0.1:{listen_port()}"
    settings = temporal_settings.model_copy(update={"metrics_bind_address": address})
    client = await connect_temporal(settings, runtime=build_runtime(settings))
    queue = f"sdk-metrics-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[AlwaysFailingTask],
        # Test-only workflow; the sandbox would re-import this test module's imports.
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            AlwaysFailingTask.run, id=f"sdk-metrics-{uuid.uuid4()}", task_queue=queue
        )
        try:
            text = await _served(
                f"http://{address}/metrics", "temporal_workflow_task_execution_failed"
            )
        finally:
            await handle.terminate("test over")
    failed = [
        line
        for line in text.splitlines()
        if line.startswith("temporal_workflow_task_execution_failed{")
    ]
    assert any(
        f'task_queue="{queue}"' in line and 'workflow_type="AlwaysFailingTask"' in line
        for line in failed
    ), failed
    assert "# TYPE temporal_workflow_task_execution_failed counter" in text
    assert "temporal_workflow_task_execution_failed_total" not in text
    # Seconds, not milliseconds: a sub-second bucket bound exists.
    assert "temporal_workflow_task_schedule_to_start_latency_bucket{" in text
    assert any(
        line.startswith("temporal_workflow_task_schedule_to_start_latency_bucket{")
        and 'le="0.1"' in line
        for line in text.splitlines()
    )
