"""After-sale refunds: check the order and the returned lines, start ``refund-<order_id>``.

The refund workflow needs the order as the saga carried it (the customer's address for the
notice is kept only there, in Temporal, never in the read model), so it is read from the
saga's input, through the same data converter (and codec) as everything else.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import read_model
from api.auth import Principal
from api.errors import OrderNotFoundError, RefundLinesError, RefundRefusedError
from api.schemas import RefundAccepted, RefundCreate, RefundLineCreate
from api.services.workflows import OrderWorkflows, temporal_errors
from messages.queues import TaskQueues
from messages.refund import RefundLine, RefundOrderInput, refund_workflow_id
from messages.saga import OrderSnapshot
from models.order_status import OrderStatus
from workflows.refund import RefundWorkflow


class RefundService:
    def __init__(self, session: AsyncSession, temporal: Client, queues: TaskQueues) -> None:
        self._session = session
        self._client = temporal
        self._queues = queues
        self._workflows = OrderWorkflows(temporal, queues)

    async def refund(
        self, operator: Principal, order_id: str, body: RefundCreate
    ) -> RefundAccepted:
        record = await read_model.find_order(self._session, order_id)
        await self._session.commit()
        if record is None:
            raise OrderNotFoundError(order_id)
        if record.order.status != OrderStatus.CONFIRMED:
            raise RefundRefusedError(order_id, f"it is {record.order.status}, not CONFIRMED")
        try:
            saga = await self._workflows.saga_input(order_id)
        except RPCError:  # NOT_FOUND (others became 503): the history is gone
            saga = None
        if saga is None:
            raise RefundRefusedError(order_id, "its saga's history is no longer kept")
        lines = _returned_lines(saga.order, body)
        amount = _price(saga.order, lines)
        refund = RefundOrderInput(
            order=saga.order,
            lines=lines,
            amount=amount,
            reason=body.reason,
            actor=operator.subject,
            actor_role=operator.names.operator,
            queues=self._queues,
        )
        workflow_id = refund_workflow_id(order_id)
        items = sum(line.quantity for line in lines)
        try:
            with temporal_errors():
                await self._client.start_workflow(
                    RefundWorkflow.run,
                    refund,
                    id=workflow_id,
                    task_queue=self._queues.orders,
                    static_summary=f"Refund of order {order_id}: {items} items, "
                    f"{amount} {saga.order.currency}",
                    static_details=f"**Reason** {body.reason}\n\n**By** `{operator.subject}`",
                    # One refund per order; a run that failed or was terminated may be redone.
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                )
        except WorkflowAlreadyStartedError as exc:
            why = "a refund of it is already under way or done"
            raise RefundRefusedError(order_id, why) from exc
        return RefundAccepted(
            order_id=order_id,
            workflow_id=workflow_id,
            amount=amount,
            currency=saga.order.currency,
            lines=[RefundLineCreate(product_id=x.product_id, quantity=x.quantity) for x in lines],
        )


def _returned_lines(order: OrderSnapshot, body: RefundCreate) -> list[RefundLine]:
    ordered: Counter[str] = Counter()
    for line in order.lines:
        ordered[line.product_id] += line.quantity
    if body.lines is None:
        return [RefundLine(product_id=p, quantity=q) for p, q in ordered.items()]
    asked: Counter[str] = Counter()
    for returned in body.lines:
        asked[returned.product_id] += returned.quantity
    for product_id, quantity in asked.items():
        if quantity > ordered[product_id]:
            raise RefundLinesError(order.order_id, product_id, ordered[product_id], quantity)
    return [RefundLine(product_id=p, quantity=q) for p, q in asked.items()]


def _price(order: OrderSnapshot, lines: list[RefundLine]) -> Decimal:
    unit = {line.product_id: line.unit_price for line in order.lines}
    return sum((unit[line.product_id] * line.quantity for line in lines), Decimal("0.00"))
