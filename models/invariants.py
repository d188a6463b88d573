"""The saga's invariants: what must hold of every order whose saga has ended.

One checker for every place that can see an order's whole story: the schedule explorer
(tests/explorer, in-memory world), the saga-path tests on PostgreSQL and the provider's
books, and any reconcile tool. Each gathers the same ``OrderFacts`` from where it stands
and asks ``violations``; docs/invariants.md says why each rule is what it is.

Pure: no I/O, nothing but the standard library and the domain's own enums.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from models.notification import NotificationType
from models.order_status import OrderStatus

__all__ = [
    "ENDINGS",
    "TERMINAL_EVENTS",
    "TERMINAL_NOTICES",
    "Money",
    "OrderFacts",
    "violations",
]

ZERO = Decimal("0")

# The states in which the saga has ended with the order. NEEDS_ATTENTION is the one state
# that has not ended and does not end by itself: it waits for a person.
ENDINGS = (
    OrderStatus.CONFIRMED,
    OrderStatus.REJECTED,
    OrderStatus.PAYMENT_FAILED,
    OrderStatus.CANCELLED,
    OrderStatus.REFUNDED,
)

# The one event that tells other teams how the saga ended, per ending. PAYMENT_FAILED's is
# the payment's own PaymentFailed (the order's move carries no event of its own).
TERMINAL_EVENTS: dict[OrderStatus, str] = {
    OrderStatus.CONFIRMED: "OrderConfirmed",
    OrderStatus.REJECTED: "OrderRejected",
    OrderStatus.PAYMENT_FAILED: "PaymentFailed",
    OrderStatus.CANCELLED: "OrderCancelled",
}

TERMINAL_NOTICES: dict[OrderStatus, NotificationType] = {
    OrderStatus.CONFIRMED: NotificationType.ORDER_CONFIRMED,
    OrderStatus.REJECTED: NotificationType.ORDER_REJECTED,
    OrderStatus.PAYMENT_FAILED: NotificationType.PAYMENT_FAILED,
    OrderStatus.CANCELLED: NotificationType.ORDER_CANCELLED,
}

# An ending that rightly keeps the customer's money and the goods (an after-sale refund
# gives some or all of it back later, through its own workflow).
_KEEPS = (OrderStatus.CONFIRMED, OrderStatus.REFUNDED)


@dataclass(frozen=True)
class Money:
    """Where the provider's books stand for one order."""

    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    # Authorised and neither captured nor voided: the customer's money held, not taken.
    authorized: Decimal = ZERO
    # A charge waiting for the customer's action that they could still complete.
    open_intents: int = 0
    # Separate charges that took money (captured at some point), whatever came of them.
    charges_taken: int = 0

    @property
    def kept(self) -> Decimal:
        return self.captured - self.refunded


@dataclass(frozen=True)
class OrderFacts:
    """One order as everyone involved sees it, gathered after its saga stopped moving."""

    order_id: str
    # The saga's own word: its result when it ended, else its ``status`` query.
    saga_status: OrderStatus
    saga_ended: bool
    # The orders table (None: never recorded).
    read_model: OrderStatus | None
    total: Decimal
    units: int
    money: Money
    # Units this order holds in the stock's reservations.
    stock_held: int
    # Every event recorded about the order, by type, in order.
    events: tuple[str, ...] = ()
    # Every notice the customer received (one per distinct notification, resends apart).
    notices: tuple[NotificationType, ...] = ()
    # After-sale refunds the order went through (RefundWorkflow), the amount given back.
    refunded_after_sale: Decimal = ZERO
    units_returned: int = 0
    # What the saga says it holds while it waits (its step and last error), for NEEDS_ATTENTION.
    waiting_step: str | None = None


def violations(facts: OrderFacts) -> list[str]:
    """Every invariant ``facts`` break, in words an operator can act on; [] when none."""
    if not facts.saga_ended:
        return _while_waiting(facts)
    found: list[str] = []
    outcome = facts.saga_status
    if outcome not in ENDINGS:
        found.append(f"the saga ended in {outcome}, which is no ending")
        return found
    found += _money(facts, outcome)
    found += _stock(facts, outcome)
    if facts.read_model != outcome:
        found.append(f"the read model says {facts.read_model}, the saga ended {outcome}")
    found += _terminal_event(facts, outcome)
    found += _told_once(facts, outcome)
    return found


def _while_waiting(facts: OrderFacts) -> list[str]:
    if facts.saga_status is not OrderStatus.NEEDS_ATTENTION:
        return [f"the saga has not ended and waits in {facts.saga_status}, not for an operator"]
    if not facts.waiting_step:
        return ["NEEDS_ATTENTION without the step it holds at"]
    return []


def _money(facts: OrderFacts, outcome: OrderStatus) -> list[str]:
    money = facts.money
    found = []
    if money.charges_taken > 1:
        found.append(f"the customer was charged {money.charges_taken} times")
    if money.refunded > money.captured:
        found.append(f"refunded {money.refunded}, more than the {money.captured} captured")
    if money.authorized != ZERO and outcome is not OrderStatus.CONFIRMED:
        found.append(f"{money.authorized} still authorised on a {outcome} order")
    if money.authorized != ZERO and outcome is OrderStatus.CONFIRMED:
        found.append(f"{money.authorized} authorised and never captured on a CONFIRMED order")
    if money.open_intents and outcome not in _KEEPS:
        found.append(f"a payment the customer can still complete on a {outcome} order")
    if outcome in _KEEPS:
        expected = facts.total - facts.refunded_after_sale
        if money.kept != expected:
            found.append(f"{money.kept} kept on a {outcome} order whose due is {expected}")
    elif money.kept != ZERO:
        found.append(f"{money.kept} of the customer's money kept on a {outcome} order")
    return found


def _stock(facts: OrderFacts, outcome: OrderStatus) -> list[str]:
    if outcome in _KEEPS:
        due = facts.units - facts.units_returned
        if facts.stock_held != due:
            return [f"{facts.stock_held} units held by a {outcome} order that owns {due}"]
        return []
    if facts.stock_held:
        return [f"{facts.stock_held} units still reserved by a {outcome} order"]
    return []


def _terminal_event(facts: OrderFacts, outcome: OrderStatus) -> list[str]:
    ending = OrderStatus.CONFIRMED if outcome is OrderStatus.REFUNDED else outcome
    terminal = [event for event in facts.events if event in TERMINAL_EVENTS.values()]
    expected = TERMINAL_EVENTS[ending]
    found = []
    if terminal != [expected]:
        found.append(f"terminal events {terminal or 'none'}, expected exactly [{expected}]")
    refunds = _count(facts.events, "OrderRefunded")
    if outcome is OrderStatus.REFUNDED and refunds != 1:
        found.append(f"{refunds} OrderRefunded events on a REFUNDED order")
    if outcome is not OrderStatus.REFUNDED and refunds:
        found.append(f"OrderRefunded on a {outcome} order")
    return found


def _told_once(facts: OrderFacts, outcome: OrderStatus) -> list[str]:
    ending = OrderStatus.CONFIRMED if outcome is OrderStatus.REFUNDED else outcome
    conclusions = [n for n in facts.notices if n is not NotificationType.ORDER_REFUNDED]
    expected = TERMINAL_NOTICES[ending]
    found = []
    if conclusions != [expected]:
        found.append(f"the customer was told {conclusions or 'nothing'}, expected [{expected}]")
    refunds = _count(facts.notices, NotificationType.ORDER_REFUNDED)
    if refunds != (1 if outcome is OrderStatus.REFUNDED else 0):
        found.append(f"{refunds} refund notices on a {outcome} order")
    return found


def _count(items: Iterable[object], wanted: object) -> int:
    return sum(1 for item in items if item == wanted)
