"""The orders worker's runner still guards determinism: workflow code runs sandboxed.

workers/sandbox.py imports the workflow modules once and answers the SDK's payload-context
lookups outside the sandbox; these tests prove a workflow's own code is still restricted,
and that activity payloads still get their activity's serialization context (the lookup the
runner answers itself). test_saga_guard.py proves it for the saga's own modules.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.worker import Worker

from workers.sandbox import WORKFLOW_RUNNER

with workflow.unsafe.imports_passed_through():
    from datetime import datetime


@workflow.defn(name="ReadsTheClock")
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        try:
            datetime.now()  # noqa: DTZ005 - the point: a nondeterministic call
        except workflow.NondeterminismError as refused:
            return type(refused).__name__
        return "allowed"


@activity.defn(name="echo")
async def echo(text: str) -> str:
    return text


@workflow.defn(name="CallsAnActivity")
class CallsAnActivity:
    @workflow.run
    async def run(self) -> str:
        result: str = await workflow.execute_activity(
            echo, "hello", start_to_close_timeout=timedelta(seconds=10)
        )
        return result


class ContextRecorder(PayloadCodec, WithSerializationContext):
    """A pass-through codec that records the serialization context it is given."""

    def __init__(self, seen: list[SerializationContext]) -> None:
        self.seen = seen

    def with_context(self, context: SerializationContext) -> ContextRecorder:
        self.seen.append(context)
        return self

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_workflow_code_is_still_restricted(temporal_client: Client) -> None:
    """A workflow reading the wall clock is refused by the sandbox, as with the SDK's runner."""
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[ReadsTheClock],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        outcome = await temporal_client.execute_workflow(
            ReadsTheClock.run, id=f"clock-{uuid.uuid4()}", task_queue=queue
        )
    assert outcome == "RestrictedWorkflowAccessError"


async def test_activity_payloads_get_their_activitys_context(temporal_client: Client) -> None:
    """The context lookup answered outside the sandbox names the activity, as the SDK's does."""
    seen: list[SerializationContext] = []
    recording = _with_codec(temporal_client, ContextRecorder(seen))
    # The activity's own worker on another client: only the workflow side is recorded.
    plain = _with_codec(temporal_client, ContextRecorder([]))
    queue = f"sandbox-{uuid.uuid4()}"
    async with (
        Worker(
            recording,
            task_queue=queue,
            workflows=[CallsAnActivity],
            workflow_runner=WORKFLOW_RUNNER,
        ),
        Worker(plain, task_queue=queue, activities=[echo]),
    ):
        result = await plain.execute_workflow(
            CallsAnActivity.run, id=f"echo-{uuid.uuid4()}", task_queue=queue
        )
    assert result == "hello"
    activity_contexts = [c for c in seen if isinstance(c, ActivitySerializationContext)]
    assert activity_contexts
    assert {c.activity_type for c in activity_contexts} == {"echo"}
    assert {c.activity_task_queue for c in activity_contexts} == {queue}


def _with_codec(client: Client, codec: PayloadCodec) -> Client:
    config = client.config()
    config["data_converter"] = dataclasses.replace(config["data_converter"], payload_codec=codec)
    return Client(**config)
