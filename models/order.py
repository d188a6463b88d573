"""The order aggregate: what a customer asked for, and how far the saga has taken it.

Which method produces which event: an order's own decisions are order events
(``place`` → OrderCreated, ``confirm`` → OrderConfirmed, ``reject`` → OrderRejected,
``cancel`` → OrderCancelled, ``park`` → OrderNeedsAttention, ``resume`` → OrderRetried).
``await_payment_action`` returns None: PaymentActionRequired belongs to the payment.
``mark_reserved``, ``mark_paid`` and ``fail_payment``
return None: they record facts whose events belong to the domain that established
them (InventoryReserved from inventory, PaymentProcessed and PaymentFailed from
payments), and recording them twice would put two events on the order's timeline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from models._validate import require_count, require_text
from models.errors import IllegalTransitionError, InvalidOrderError, InvalidPaymentError
from models.events import (
    EventItem,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderNeedsAttention,
    OrderRejected,
    OrderRetried,
)
from models.money import Money, sum_money
from models.order_status import (
    OrderStatus,
    allowed_transitions,
    can_cancel,
    is_terminal,
    transition,
)

__all__ = [
    "Order",
    "OrderItem",
    "OrderStatus",
    "PaymentDetails",
    "allowed_transitions",
    "can_cancel",
    "is_terminal",
    "transition",
]

_CARD_NUMBER_LENGTHS = range(12, 20)
# Where a retry cannot lead: those end an order and have their own methods.
_ENDINGS = (
    OrderStatus.CONFIRMED,
    OrderStatus.REJECTED,
    OrderStatus.PAYMENT_FAILED,
    OrderStatus.CANCELLED,
)


@dataclass(frozen=True)
class OrderItem:
    """A line of an order: a product, how many, and the catalog price of one."""

    product_id: str
    quantity: int
    unit_price: Money

    def __post_init__(self) -> None:
        require_text(self.product_id, "product_id", InvalidOrderError)
        require_count(self.quantity, f"quantity of {self.product_id}", InvalidOrderError)
        if not isinstance(self.unit_price, Money):
            raise TypeError(f"unit_price must be Money, not {type(self.unit_price).__name__}")
        # Every order is charged, so a line must cost something; free items are not modelled.
        if not self.unit_price.is_positive():
            raise InvalidOrderError(f"unit price of {self.product_id} must be positive")

    @property
    def line_total(self) -> Money:
        return self.unit_price * self.quantity

    def to_event_item(self) -> EventItem:
        return EventItem(self.product_id, self.quantity, self.unit_price.amount)


def _looks_like_card_number(token: str) -> bool:
    digits = token.replace(" ", "").replace("-", "")
    return digits.isascii() and digits.isdigit() and len(digits) in _CARD_NUMBER_LENGTHS


@dataclass(frozen=True, kw_only=True)
class PaymentDetails:
    """How the customer pays: a method and the payment provider's opaque token.

    The token comes from the provider's client-side tokenisation (``tok_visa``); a card
    number is refused so one can never reach storage, logs or events through here.
    """

    method: str = "card"
    # Kept out of repr so logging an order does not log a token that can charge a card.
    token: str = field(repr=False)

    def __post_init__(self) -> None:
        require_text(self.method, "payment method", InvalidPaymentError)
        require_text(self.token, "payment token", InvalidPaymentError)
        if _looks_like_card_number(self.token):
            raise InvalidPaymentError(
                "payment token looks like a card number; send the provider's token instead"
            )


def _merge_lines(items: Iterable[OrderItem]) -> tuple[OrderItem, ...]:
    """One line per product, quantities summed, in order of first appearance.

    Two lines for one product at different prices are refused: which price applies is
    not a question the domain can answer.
    """
    merged: dict[str, OrderItem] = {}
    for item in items:
        seen = merged.get(item.product_id)
        if seen is None:
            merged[item.product_id] = item
        elif seen.unit_price != item.unit_price:
            raise InvalidOrderError(
                f"{item.product_id} appears at two prices: {seen.unit_price} and {item.unit_price}"
            )
        else:
            merged[item.product_id] = OrderItem(
                item.product_id, seen.quantity + item.quantity, item.unit_price
            )
    return tuple(merged.values())


@dataclass(eq=False, kw_only=True)
class Order:
    """An order and its status; status changes only through the behaviour methods.

    The constructor rebuilds an order in any status (as read from storage) and checks
    the invariants: at least one line, one currency, one line per product. New orders
    come from ``Order.place``, which merges repeated products first.
    """

    id: str
    customer_id: str
    items: tuple[OrderItem, ...]
    payment: PaymentDetails
    status: OrderStatus = OrderStatus.PENDING
    payment_id: str | None = None
    # Why the order ended as it did (rejected, payment failed, cancelled).
    reason: str | None = None

    def __post_init__(self) -> None:
        require_text(self.id, "order id", InvalidOrderError)
        require_text(self.customer_id, "customer id", InvalidOrderError)
        self.items = tuple(self.items)
        if not self.items:
            raise InvalidOrderError("an order needs at least one item")
        currency = self.items[0].unit_price.currency
        seen: set[str] = set()
        for item in self.items:
            if item.unit_price.currency != currency:
                raise InvalidOrderError(
                    f"an order has one currency: {item.product_id} is priced in "
                    f"{item.unit_price.currency}, not {currency}"
                )
            if item.product_id in seen:
                raise InvalidOrderError(f"{item.product_id} appears on two lines")
            seen.add(item.product_id)
        if not isinstance(self.payment, PaymentDetails):
            raise TypeError(f"payment must be PaymentDetails, not {type(self.payment).__name__}")
        # Accepts the stored string form too; an unknown status is a ValueError here.
        self.status = OrderStatus(self.status)

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer_id: str,
        items: Iterable[OrderItem],
        payment: PaymentDetails,
    ) -> tuple[Order, OrderCreated]:
        """A new PENDING order, with repeated products merged into one line each."""
        order = cls(
            id=order_id, customer_id=customer_id, items=_merge_lines(items), payment=payment
        )
        return order, OrderCreated(
            order_id=order.id,
            customer_id=order.customer_id,
            items=tuple(item.to_event_item() for item in order.items),
            total_amount=order.total.amount,
            currency=order.currency,
        )

    @property
    def currency(self) -> str:
        return self.items[0].unit_price.currency

    @property
    def total(self) -> Money:
        return sum_money((item.line_total for item in self.items), currency=self.currency)

    @property
    def quantities(self) -> tuple[tuple[str, int], ...]:
        """``(product_id, quantity)`` per line: what to reserve for this order."""
        return tuple((item.product_id, item.quantity) for item in self.items)

    @property
    def is_terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def can_cancel(self) -> bool:
        return can_cancel(self.status)

    def mark_reserved(self) -> None:
        self.status = transition(self.status, OrderStatus.RESERVED)

    def mark_paid(self, payment_id: str) -> None:
        require_text(payment_id, "payment id", InvalidOrderError)
        self.status = transition(self.status, OrderStatus.PAID)
        self.payment_id = payment_id

    def await_payment_action(self) -> None:
        self.status = transition(self.status, OrderStatus.PAYMENT_PENDING)

    def park(self, step: str, reason: str) -> OrderNeedsAttention:
        """Hold everything and wait for an operator: ``step`` could not go on."""
        require_text(step, "step", InvalidOrderError)
        require_text(reason, "reason", InvalidOrderError)
        self.status = transition(self.status, OrderStatus.NEEDS_ATTENTION)
        # Shown to operators while it waits; a retry clears it.
        self.reason = reason
        return OrderNeedsAttention(order_id=self.id, step=step, reason=reason)

    def resume(self, status: OrderStatus, step: str, actor: str, note: str = "") -> OrderRetried:
        """An operator's retry: back from NEEDS_ATTENTION to the ``status`` it left."""
        if self.status is not OrderStatus.NEEDS_ATTENTION:
            raise IllegalTransitionError("order", self.status, status)
        if status in (OrderStatus.NEEDS_ATTENTION, *_ENDINGS):
            raise IllegalTransitionError("order", self.status, status)
        require_text(actor, "actor", InvalidOrderError)
        self.status = transition(self.status, status)
        self.reason = None
        return OrderRetried(order_id=self.id, step=step, actor=actor, note=note)

    def confirm(self) -> OrderConfirmed:
        self.status = transition(self.status, OrderStatus.CONFIRMED)
        return OrderConfirmed(order_id=self.id)

    def reject(self, reason: str) -> OrderRejected:
        self._end(OrderStatus.REJECTED, reason)
        return OrderRejected(order_id=self.id, reason=reason)

    def fail_payment(self, reason: str) -> None:
        self._end(OrderStatus.PAYMENT_FAILED, reason)

    def cancel(self, reason: str) -> OrderCancelled:
        self._end(OrderStatus.CANCELLED, reason)
        return OrderCancelled(order_id=self.id, reason=reason)

    def _end(self, status: OrderStatus, reason: str) -> None:
        # The reason is shown to the customer, so a blank one is a bug upstream.
        require_text(reason, "reason", InvalidOrderError)
        self.status = transition(self.status, status)
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        # An entity: the same order whatever its status.
        return isinstance(other, Order) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
