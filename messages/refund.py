"""The after-sale refund workflow's input, its activities' inputs and results."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from messages.queues import TaskQueues
from messages.saga import OrderSnapshot


def refund_workflow_id(order_id: str) -> str:
    return f"refund-{order_id}"


def refund_idempotency_key(order_id: str) -> str:
    """The provider's key for an order's after-sale refund: one refund per order."""
    return f"refund-{order_id}"


class RefundLine(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)


class RefundOrderInput(BaseModel):
    """What an operator asked for: ``lines`` (priced from the order) or the whole order."""

    order: OrderSnapshot
    lines: list[RefundLine]
    amount: Decimal
    reason: str
    # Who asked: the subject of a verified token, and the role it asked in (None in
    # refunds started before the role was carried).
    actor: str
    actor_role: str | None = None
    queues: TaskQueues = Field(default_factory=TaskQueues)


class RefundMoneyInput(BaseModel):
    order_id: str
    amount: Decimal
    currency: str
    lines: list[RefundLine]
    reason: str
    actor: str
    actor_role: str | None = None


class RefundMoneyResult(BaseModel):
    order_id: str
    amount: Decimal
    currency: str
    refund_reference: str | None = None


class ReturnStockInput(BaseModel):
    order_id: str
    lines: list[RefundLine]


class ReturnStockResult(BaseModel):
    order_id: str
    returned: dict[str, int] = Field(default_factory=dict)


class RefundOutcome(BaseModel):
    order_id: str
    amount: Decimal
    currency: str
    refund_reference: str | None = None
    returned: dict[str, int] = Field(default_factory=dict)
