"""What the services refuse, in the application's words; the routes' edge speaks HTTP.

Each error carries the data that explains it and says it in one sentence (``str(error)``),
which the edge (``api/error_problems.py``) answers with as the problem's detail. Nothing
here knows a status code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


class ServiceError(Exception):
    """A request the application refuses, or cannot serve right now."""


class OrderNotFoundError(ServiceError):
    """No such order -- or another customer's, so that ids cannot be probed."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"No order {order_id}.")
        self.order_id = order_id


class NotCancellableError(ServiceError):
    """The order exists but can no longer be cancelled."""

    def __init__(self, order_id: str, why: str) -> None:
        super().__init__(f"Order {order_id} cannot be cancelled: {why}.")
        self.order_id = order_id
        self.why = why


class NotRetryableError(ServiceError):
    """The order exists but waits for no retry (it is not parked, or it is finished)."""

    def __init__(self, order_id: str, why: str) -> None:
        super().__init__(f"Order {order_id} cannot be retried: {why}.")
        self.order_id = order_id
        self.why = why


class RefundRefusedError(ServiceError):
    """The order exists but cannot be refunded (not CONFIRMED, already refunded, forgotten)."""

    def __init__(self, order_id: str, why: str) -> None:
        super().__init__(f"Order {order_id} cannot be refunded: {why}.")
        self.order_id = order_id
        self.why = why


class RefundLinesError(ServiceError):
    """More of a product is returned than the order had."""

    def __init__(self, order_id: str, product_id: str, ordered: int, asked: int) -> None:
        super().__init__(
            f"Order {order_id} has {ordered} of {product_id}; {asked} cannot be returned."
        )
        self.order_id = order_id
        self.product_id = product_id
        self.ordered = ordered
        self.asked = asked


class EmailRequiredError(ServiceError):
    """Neither the request nor the token names an address for the order's notices."""

    def __init__(self) -> None:
        super().__init__(
            "An email address is needed for order notices: use a token with an email "
            "claim (an operator may send `email`)."
        )


class KeyReusedError(ServiceError):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, key: str) -> None:
        super().__init__("This Idempotency-Key was already used with a different request body.")
        self.key = key


class KeyInFlightError(ServiceError):
    """The first request with this Idempotency-Key is still being processed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed.")
        self.retry_after = retry_after


class InvalidCursorError(ServiceError):
    """A page cursor this API did not hand out."""

    def __init__(self) -> None:
        super().__init__("The cursor is not one this API returned.")


class NotPermittedError(ServiceError):
    """The caller's role may not do this (a customer asking for another's orders)."""


@dataclass(frozen=True)
class InvalidField:
    """One failing part of a request: where (``loc``, as validation errors name it), why."""

    loc: tuple[str | int, ...]
    detail: str
    type: str


class InvalidFieldsError(ServiceError):
    """The request breaks limits the schema cannot express (items per order, quantities)."""

    def __init__(self, fields: Sequence[InvalidField]) -> None:
        super().__init__("The request is not valid; see errors for each failing field.")
        self.fields = list(fields)


class UnknownProductsError(ServiceError):
    """Items name products the catalog does not have; ``items`` maps item index to product."""

    def __init__(self, items: Mapping[int, str]) -> None:
        self.products = sorted(set(items.values()))
        super().__init__(f"Unknown product: {', '.join(self.products)}.")
        self.items = dict(items)


class MixedCurrenciesError(ServiceError):
    def __init__(self, currencies: Sequence[str]) -> None:
        super().__init__(
            f"All items of an order must share one currency; these are in {list(currencies)}."
        )
        self.currencies = list(currencies)


class TotalTooLargeError(ServiceError):
    """The total would not fit the orders table's amount column."""

    def __init__(self, limit: Decimal, currency: str) -> None:
        super().__init__(f"The order total exceeds {limit} {currency}.")
        self.limit = limit
        self.currency = currency


class ProductNotFoundError(ServiceError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"No product {product_id!r}.")
        self.product_id = product_id


class ProductExistsError(ServiceError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"Product {product_id!r} already exists.")
        self.product_id = product_id


class StockContentionError(ServiceError):
    """Concurrent changes to one product's stock kept colliding; the caller may retry."""

    def __init__(self, product_id: str) -> None:
        super().__init__(f"Stock of {product_id!r} is changing concurrently; retry the request.")
        self.product_id = product_id


class StockTooLargeError(ServiceError):
    def __init__(self, product_id: str, limit: int) -> None:
        super().__init__(f"Stock of {product_id!r} would exceed {limit}.")
        self.product_id = product_id
        self.limit = limit


class DependencyUnavailableError(ServiceError):
    """A service the request needs (the workflow service) does not answer right now."""

    def __init__(self, what: str) -> None:
        super().__init__(f"The {what} is unavailable right now; try again shortly.")
        self.what = what


class NotReadyError(ServiceError):
    """This process cannot serve orders now; ``checks`` says which dependency is down."""

    def __init__(self, checks: Mapping[str, str]) -> None:
        down = [name for name, state in checks.items() if state != "ok"]
        super().__init__("Not ready: " + ", ".join(down))
        self.checks = dict(checks)


class MaintenanceOnError(ServiceError):
    """The maintenance switch is on: no new orders for now (orders in flight go on)."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(f"New orders are paused for maintenance: {reason}")
        self.reason = reason
        self.retry_after = retry_after


class MaintenanceForcedError(ServiceError):
    """An operator asked to switch maintenance off while the deployment's setting holds it."""

    def __init__(self, setting: str) -> None:
        super().__init__(
            f"The deployment holds maintenance on ({setting}=true); change the setting to"
            " switch it off."
        )
        self.setting = setting
