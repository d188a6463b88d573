"""Recording the saga's waiting decisions on the order: parked (NEEDS_ATTENTION) and retried.

Idempotent: an order already in the requested status is left as it is and no second event
is written, so a retry of this activity after a lost reply records the decision once.
"""

from __future__ import annotations

import logging

from activities.recording import business_error, load_or_place
from messages import contract, errors
from messages.activities import OrderStatusResult, RecordOrderStatusInput
from messages.contract import implements
from models import DomainEvent, IllegalTransitionError, InvalidValueError, OrderStatus
from models.actor import SYSTEM, operator
from persistence import orders
from persistence.batch import Batch
from persistence.clock import utc_now
from persistence.unit import Sessions, transaction
from telemetry.context import order_context

__all__ = ["OrderStatusActivities"]

log = logging.getLogger(__name__)


class OrderStatusActivities(contract.OrderStatusRecords):
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @implements(contract.OrderStatusRecords.record_order_status)
    async def record_order_status(self, arg: RecordOrderStatusInput) -> OrderStatusResult:
        """Park the order (NEEDS_ATTENTION, OrderNeedsAttention) or, after an operator's
        retry, return it to the status it left (OrderRetried). Answers the status now."""
        snapshot = arg.order
        target = OrderStatus(arg.status)
        with order_context(snapshot.order_id):
            async with transaction(self._sessions) as session:
                batch = Batch(session)
                # Records the order first if no step could (a database down from the start).
                order, new = await load_or_place(session, batch, snapshot)
                if order.status != target:
                    try:
                        event: DomainEvent
                        if target is OrderStatus.NEEDS_ATTENTION:
                            event = order.park(
                                arg.step, arg.reason or f"{arg.step} could not go on"
                            )
                        else:
                            event = order.resume(target, arg.step, arg.actor, arg.note)
                    except (IllegalTransitionError, InvalidValueError) as refused:
                        raise business_error(
                            f"order {order.id}: {refused}", errors.ILLEGAL_TRANSITION
                        ) from refused
                    # The envelope says who decided, as for every other event (models/actor.py):
                    # the saga parks an order; an operator resumes it, verified when the retry
                    # came through the API, else as declared in the retry's input.
                    actor = arg.verified_actor or (
                        SYSTEM if arg.actor == "system" else operator(arg.actor)
                    )
                    batch.add_events([event], utc_now(), actor=actor)
                elif not new:
                    return OrderStatusResult(order_id=order.id, status=order.status.value)
                orders.save(batch, order, new=new, placed_at=snapshot.placed_at)
                await batch.send()
            log.info("order %s %s at %s (%s)", order.id, order.status, arg.step, arg.actor)
            return OrderStatusResult(order_id=order.id, status=order.status.value)
