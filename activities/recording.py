"""What every activity shares: recording the order once, stable ids, and turning business
refusals into non-retryable Temporal errors.

The saga carries the whole order (OrderSnapshot), so whichever activity touches the order
first records it -- normally reserve_inventory, but a notice for an order cancelled before
its reservation must be able to as well.
"""

from __future__ import annotations

import uuid

from temporalio.exceptions import ApplicationError

from messages import errors
from messages.saga import OrderSnapshot
from models import (
    InvalidValueError,
    Money,
    Order,
    OrderCreated,
    OrderItem,
    PaymentDetails,
)
from models.actor import SYSTEM
from persistence import orders
from persistence.batch import Batch
from persistence.unit import Session

__all__ = [
    "INVALID_ORDER",
    "WRONG_ORDER_STATUS",
    "business_error",
    "load_or_place",
    "place",
    "place_new",
    "stable_id",
]

INVALID_ORDER = errors.INVALID_ORDER
WRONG_ORDER_STATUS = errors.WRONG_ORDER_STATUS

# Namespace of the ids derived from order ids (payments, notifications): a retry, or a
# second worker racing the first, computes the same id and meets the unique key.
_IDS = uuid.UUID("6f1d3c1e-5b0a-4d55-9a57-2b8c1f0e7a41")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_IDS, "/".join(parts)))


def business_error(message: str, error_type: str) -> ApplicationError:
    """A refusal that retrying cannot change: the saga matches on ``error_type``."""
    return ApplicationError(message, type=error_type, non_retryable=True)


def place(snapshot: OrderSnapshot) -> tuple[Order, OrderCreated]:
    """The new PENDING domain order for ``snapshot`` (lines merged per product)."""
    try:
        return Order.place(
            order_id=snapshot.order_id,
            customer_id=snapshot.customer_id,
            items=[
                OrderItem(line.product_id, line.quantity, Money(line.unit_price, snapshot.currency))
                for line in snapshot.lines
            ],
            payment=PaymentDetails(method=snapshot.payment.method, token=snapshot.payment.token),
        )
    except InvalidValueError as exc:
        raise business_error(f"invalid order {snapshot.order_id}: {exc}", INVALID_ORDER) from exc


async def load_or_place(
    session: Session, batch: Batch, snapshot: OrderSnapshot
) -> tuple[Order, bool]:
    """The order in its recorded status, its row locked until commit, or -- not recorded
    yet -- the order as placed, with OrderCreated added to ``batch`` (True: new). Either
    way the caller lets the domain decide, then ``orders.save``s it once.

    Raises UnknownProductError (nothing written) for a line naming no catalog product.
    """
    placed, created = place(snapshot)
    order = await orders.load(session, placed)
    if order is not None:
        return order, False
    await place_new(session, batch, snapshot, placed, created)
    return placed, True


async def place_new(
    session: Session,
    batch: Batch,
    snapshot: OrderSnapshot,
    placed: Order,
    created: OrderCreated,
) -> None:
    """Add OrderCreated of ``placed``, found not recorded, to ``batch``; the caller then
    ``orders.save``s it new. UnknownProductError (nothing written) for a line naming no
    catalog product."""
    await orders.require_products(session, placed)
    # The order was placed when the customer placed it, whichever step records it.
    batch.add_events([created], snapshot.placed_at, actor=snapshot.placed_by or SYSTEM)
