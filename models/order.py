"""The order aggregate: what a customer asked for, and how far the saga has taken it.

Which method produces which event: an order's own decisions are order events
(``place`` → OrderCreated, ``confirm`` → OrderConfirmed, ``reject`` → OrderRejected,
``cancel`` → OrderCancelled, ``park`` → OrderNeedsAttention, ``resume`` → OrderRetried).
``await_payment_action`` returns None: PaymentActionRequired belongs to the payment.
``mark_reserved``, ``mark_paid``, ``fail_payment``, ``record_payment`` and
``payment_reported`` return None: they record facts whose events belong to the domain
that established them (InventoryReserved from inventory, PaymentProcessed and
PaymentFailed from payments), and recording them twice would put two events on the
order's timeline. ``refund`` → OrderRefunded (an after-sale refund). ``conclude`` ends
the order as the saga concluded, through ``confirm``, ``reject``, ``cancel`` or
``fail_payment``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from models._validate import require_text
from models.errors import IllegalTransitionError, InvalidOrderError
from models.events import (
    EventItem,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderNeedsAttention,
    OrderRefunded,
    OrderRejected,
    OrderRetried,
)
from models.money import Money, sum_money
from models.order_item import OrderItem, PaymentDetails, merge_lines
from models.order_status import (
    OrderStatus,
    allowed_transitions,
    can_cancel,
    is_terminal,
    transition,
)
from models.payment import Payment, PaymentStatus

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

# Where a retry cannot lead: those end an order and have their own methods.
_ENDINGS = (
    OrderStatus.CONFIRMED,
    OrderStatus.REJECTED,
    OrderStatus.PAYMENT_FAILED,
    OrderStatus.CANCELLED,
)


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
        order = cls(id=order_id, customer_id=customer_id, items=merge_lines(items), payment=payment)
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

    def conclude(
        self, status: OrderStatus, reason: str
    ) -> OrderConfirmed | OrderRejected | OrderCancelled | None:
        """End the order in ``status``, as the saga concluded, with that ending's event:
        None for PAYMENT_FAILED, whose event (PaymentFailed) is the payment's. A status
        that ends no order is an IllegalTransitionError."""
        if status is OrderStatus.CONFIRMED:
            return self.confirm()
        if status is OrderStatus.REJECTED:
            return self.reject(reason)
        if status is OrderStatus.CANCELLED:
            return self.cancel(reason)
        if status is OrderStatus.PAYMENT_FAILED:
            self.fail_payment(reason)
            return None
        raise IllegalTransitionError("order", self.status, status)

    def record_payment(self, payment: Payment) -> None:
        """Where the saga's own charge (or capture) takes the order once ``payment`` is
        recorded: PAID when the money is taken, PAYMENT_PENDING while the provider waits
        for the customer (the read model shows it until the report). An authorisation
        leaves it RESERVED (captured at confirmation); a decline leaves its ending to the
        saga's conclusion."""
        self._own(payment)
        if payment.status is PaymentStatus.CAPTURED:
            self.mark_paid(payment.id)
        elif payment.status is PaymentStatus.PENDING:
            self.await_payment_action()

    def payment_reported(self, payment: Payment) -> None:
        """The provider's report on a payment that waited for the customer, applied to
        ``payment``: an order still waiting becomes PAID when the money was taken, and
        RESERVED again when it was authorised (captured at confirmation). An order the saga
        has moved on from stays as it is, and so does one whose payment failed: the saga's
        conclusion ends it."""
        self._own(payment)
        if self.status is not OrderStatus.PAYMENT_PENDING:
            return
        if payment.status is PaymentStatus.CAPTURED:
            self.mark_paid(payment.id)
        elif payment.status is PaymentStatus.AUTHORIZED:
            self.status = transition(self.status, OrderStatus.RESERVED)

    def refund(
        self,
        amount: Money,
        items: Iterable[EventItem],
        *,
        reason: str,
        actor: str,
        refund_reference: str | None,
    ) -> OrderRefunded:
        """An after-sale refund of a confirmed order: ``amount`` went back to the customer
        and ``items`` go back to stock."""
        self.status = transition(self.status, OrderStatus.REFUNDED)
        self.reason = reason
        return OrderRefunded(
            order_id=self.id,
            amount=amount.amount,
            currency=amount.currency,
            items=tuple(items),
            reason=reason,
            actor=actor,
            refund_reference=refund_reference,
        )

    def _own(self, payment: Payment) -> None:
        if payment.order_id != self.id:
            raise InvalidOrderError(f"payment {payment.id} is for order {payment.order_id}")

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
