"""Activity failures reach the history short and typed, whatever the activity raised."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from workers.failures import MAX_MESSAGE, ShortFailures

HUGE = "x" * 200_000


def _lose_connection() -> None:
    raise ConnectionError("server closed the connection unexpectedly " + HUGE)


@activity.defn(name="explode")
async def explode(kind: str) -> None:
    if kind == "driver":
        try:
            _lose_connection()
        except ConnectionError as lost:
            raise RuntimeError("could not commit: " + HUGE) from lost
    raise ApplicationError("refused: " + HUGE, type="WrongOrderStatus", non_retryable=True)


@workflow.defn(name="ExplodeOnce", sandboxed=False)
class ExplodeOnce:
    @workflow.run
    async def run(self, kind: str) -> None:
        await workflow.execute_activity(
            "explode",
            kind,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.mark.parametrize(
    ("kind", "error_type", "non_retryable"),
    [("driver", "RuntimeError", False), ("business", "WrongOrderStatus", True)],
)
async def test_a_huge_failure_is_recorded_short_with_its_type(
    temporal_client: Client, kind: str, error_type: str, non_retryable: bool
) -> None:
    """A driver error chained to another, or a business refusal quoting too much: the
    history holds the type and the first words, not "Failure exceeds size limit"."""
    queue = f"short-failures-{uuid.uuid4()}"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[ExplodeOnce],
        activities=[explode],
        interceptors=[ShortFailures()],
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await temporal_client.execute_workflow(
                ExplodeOnce.run, kind, id=f"explode-{uuid.uuid4()}", task_queue=queue
            )
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == error_type
    assert cause.non_retryable is non_retryable
    assert len(cause.message) <= MAX_MESSAGE
    assert cause.message.startswith(
        "RuntimeError: could not commit" if kind == "driver" else "refused"
    )
    assert cause.cause is None
