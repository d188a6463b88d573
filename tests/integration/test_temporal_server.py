"""The suite's Temporal is a real dev server that the CLI can see into."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from devstack.temporal import TemporalDevServer, temporal_cli


@workflow.defn(sandboxed=False)
class EchoWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return text


async def test_workflow_started_by_the_suite_is_listed_by_the_temporal_cli(
    temporal_client: Client, temporal_server: TemporalDevServer
) -> None:
    """A workflow run through the suite's client shows up in `temporal workflow list`."""
    queue = f"echo-{uuid.uuid4()}"
    workflow_id = f"echo-{uuid.uuid4()}"
    async with Worker(temporal_client, task_queue=queue, workflows=[EchoWorkflow]):
        result = await temporal_client.execute_workflow(
            EchoWorkflow.run,
            "hello",
            id=workflow_id,
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "hello"
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            str(temporal_cli()),
            "workflow",
            "list",
            "--address",
            temporal_server.address,
            "--query",
            f"WorkflowId = '{workflow_id}'",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    executions = json.loads(listed.stdout)
    assert [e["execution"]["workflowId"] for e in executions] == [workflow_id]
    assert executions[0]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


async def test_saga_search_attributes_are_registered(temporal_server: TemporalDevServer) -> None:
    """The dev server knows the saga's search attributes, so the Web UI can filter on them."""
    listed = await asyncio.to_thread(
        subprocess.run,
        [
            str(temporal_cli()),
            "operator",
            "search-attribute",
            "list",
            "--address",
            temporal_server.address,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    for name in ("OrderStatus", "CustomerId", "OrderTotal", "NeedsAttentionSince"):
        assert name in listed.stdout
