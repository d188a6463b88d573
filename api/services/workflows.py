"""The API's side of the saga on Temporal: start it, describe it, query it, cancel it,
retry it.

Every call carries a deadline, so an unreachable Temporal or a saga without workers
turns into a clear 503 or a fallback instead of a hanging request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from api.errors import DependencyUnavailableError
from messages import errors
from messages.queues import TaskQueues, order_workflow_id
from messages.saga import (
    CancelOutcome,
    CancelRequest,
    OrderSagaInput,
    RetryOutcome,
    RetryRequest,
    SagaStatus,
)
from messages.search_attributes import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL
from models.actor import Actor
from models.order_status import OrderStatus
from workflows.order_saga import OrderSaga

START_TIMEOUT = timedelta(seconds=10)
READ_TIMEOUT = timedelta(seconds=5)
# A query needs a worker to answer; without one, fall back rather than wait long.
QUERY_TIMEOUT = timedelta(seconds=3)
UPDATE_TIMEOUT = timedelta(seconds=15)

_Request = TypeVar("_Request")
_Outcome = TypeVar("_Outcome")


class CancelRefusedError(Exception):
    """The saga refused the cancel (it is confirming or already finished)."""


class RetryRefusedError(Exception):
    """The saga's validator refused the retry: the order waits for none."""


class SagaFinishedError(Exception):
    """The saga is no longer running, so it cannot take a cancel or a retry."""


@dataclass(frozen=True)
class SagaFacts:
    """What Temporal knows about an order's saga without asking a worker."""

    customer_id: str | None
    status: str | None  # the OrderStatus search attribute
    running: bool
    started_at: datetime


def saga_summary(saga: OrderSagaInput) -> str:
    """The saga's one line in the Web UI's list; no e-mail, no payment token."""
    order = saga.order
    items = sum(line.quantity for line in order.lines)
    return f"Order {order.order_id}: {items} items, {order.total} {order.currency}"


def saga_details(saga: OrderSagaInput) -> str:
    """The saga's details in the Web UI (markdown); only what an operator needs to act."""
    order = saga.order
    lines = "\n".join(
        f"| {line.product_id} | {line.quantity} | {line.unit_price} |" for line in order.lines
    )
    return (
        f"**Order** `{order.order_id}` (customer `{order.customer_id}`)\n\n"
        f"**Total** {order.total} {order.currency}, payment flow `{saga.payment_flow}`\n\n"
        f"| product | quantity | unit price |\n|---|---|---|\n{lines}"
    )


def unavailable() -> DependencyUnavailableError:
    return DependencyUnavailableError("workflow service")


@contextlib.contextmanager
def temporal_errors() -> Iterator[None]:
    """Turn Temporal's transport errors into "unavailable" (NOT_FOUND of a workflow is the
    caller's; NOT_FOUND of the namespace itself is the server's, see namespace_missing)."""
    try:
        yield
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and not namespace_missing(exc):
            raise
        raise unavailable() from exc


def namespace_missing(exc: RPCError) -> bool:
    """A cluster node answers "Namespace orders is not found" for seconds after PostgreSQL
    (its store) came back from a restart, while its namespace registry reloads (seen in
    ``make faults ARGS=--production``). The namespace exists -- bootstrap made it -- so that
    is the workflow service being unavailable, retried, not a missing workflow."""
    return any(
        detail.type_url.endswith(".NamespaceNotFoundFailure") for detail in exc.grpc_status.details
    )


class OrderWorkflows:
    def __init__(self, client: Client, queues: TaskQueues) -> None:
        self._client = client
        self._queues = queues

    async def start(self, saga: OrderSagaInput) -> bool:
        """Start the saga; False when it was already started (a retried request)."""
        order = saga.order
        # What operators filter on: no personal data (the customer id is a pseudonym).
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(CUSTOMER_ID, order.customer_id),
                SearchAttributePair(ORDER_STATUS, OrderStatus.PENDING.value),
                SearchAttributePair(ORDER_TOTAL, float(order.total)),
            ]
        )
        try:
            with temporal_errors():
                await self._client.start_workflow(
                    OrderSaga.run,
                    saga,
                    id=order_workflow_id(saga.order.order_id),
                    task_queue=self._queues.orders,
                    search_attributes=attributes,
                    static_summary=saga_summary(saga),
                    static_details=saga_details(saga),
                    # Never a second saga for one order id, even after the first one closed.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    rpc_timeout=START_TIMEOUT,
                )
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def describe(self, order_id: str) -> SagaFacts | None:
        handle = self._client.get_workflow_handle(order_workflow_id(order_id))
        try:
            with temporal_errors():
                description = await handle.describe(rpc_timeout=READ_TIMEOUT)
        except RPCError:
            return None  # NOT_FOUND: no such saga
        attributes = description.typed_search_attributes
        return SagaFacts(
            customer_id=attributes.get(CUSTOMER_ID),
            status=attributes.get(ORDER_STATUS),
            running=description.status == WorkflowExecutionStatus.RUNNING,
            started_at=description.start_time,
        )

    async def saga_input(self, order_id: str) -> OrderSagaInput | None:
        """The input the saga was started with: the first event of its history."""
        handle = self._client.get_workflow_handle(order_workflow_id(order_id))
        with temporal_errors():
            async for event in handle.fetch_history_events(page_size=1, rpc_timeout=READ_TIMEOUT):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                decoded = await self._client.data_converter.decode(payloads, [OrderSagaInput])
                return decoded[0] if decoded and isinstance(decoded[0], OrderSagaInput) else None
        return None

    async def status(self, order_id: str) -> SagaStatus | None:
        """The saga's live status; None when no worker answers in time (callers fall back)."""
        handle = self._client.get_workflow_handle(order_workflow_id(order_id))
        try:
            result = await handle.query(OrderSaga.status, rpc_timeout=QUERY_TIMEOUT)
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            return None
        return result if isinstance(result, SagaStatus) else None

    async def request_cancel(self, order_id: str, reason: str, actor: Actor) -> CancelOutcome:
        outcome = await self._update(
            order_id,
            OrderSaga.request_cancel,
            CancelRequest(reason=reason, actor=actor),
            CancelOutcome,
            refused=(errors.CANCEL_REFUSED, CancelRefusedError),
        )
        if not outcome.accepted:
            raise CancelRefusedError(outcome.detail)
        return outcome

    async def request_retry(self, order_id: str, request: RetryRequest) -> RetryOutcome:
        """The saga's ``retry`` update (the one the Web UI and the CLI send)."""
        return await self._update(
            order_id,
            OrderSaga.retry_update,
            request,
            RetryOutcome,
            refused=(errors.RETRY_REFUSED, RetryRefusedError),
        )

    async def _update(
        self,
        order_id: str,
        update: UpdateMethodMultiParam[[OrderSaga, _Request], _Outcome],
        request: _Request,
        answer: type[_Outcome],
        *,
        refused: tuple[str, type[Exception]],
    ) -> _Outcome:
        """One of the saga's updates, its errors mapped: the validator's refusal (``refused``:
        the error type the saga raises, and ours for it), a timeout (503), a saga gone."""
        handle = self._client.get_workflow_handle(order_workflow_id(order_id))
        refusal, refused_error = refused
        try:
            with temporal_errors():
                outcome = await handle.execute_update(update, request, rpc_timeout=UPDATE_TIMEOUT)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == refusal:
                raise refused_error(cause.message) from exc
            raise
        except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
            raise unavailable() from exc
        except RPCError as exc:
            # NOT_FOUND here: the saga closed between our describe and the update.
            raise SagaFinishedError(order_id) from exc
        if not isinstance(outcome, answer):
            raise TypeError(f"the update answered {type(outcome).__name__}, not {answer.__name__}")
        return outcome
