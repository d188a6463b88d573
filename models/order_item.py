"""An order's lines and how it is paid: the values an ``Order`` is placed with."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from models._validate import require_count, require_text
from models.errors import InvalidOrderError, InvalidPaymentError
from models.events import EventItem
from models.money import Money

__all__ = ["OrderItem", "PaymentDetails", "merge_lines"]

_CARD_NUMBER_LENGTHS = range(12, 20)


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
    # None on an order read back from storage: the token is never stored.
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        require_text(self.method, "payment method", InvalidPaymentError)
        if self.token is None:
            return
        require_text(self.token, "payment token", InvalidPaymentError)
        if _looks_like_card_number(self.token):
            raise InvalidPaymentError(
                "payment token looks like a card number; send the provider's token instead"
            )


def merge_lines(items: Iterable[OrderItem]) -> tuple[OrderItem, ...]:
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
