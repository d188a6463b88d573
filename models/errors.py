"""What the domain raises when a business rule refuses an operation.

Every error keeps its facts in ``args`` (not a preformatted message) so it pickles and
copies intact, and formats its message in ``__str__``.
"""

from __future__ import annotations

__all__ = [
    "CurrencyMismatchError",
    "DomainError",
    "IllegalTransitionError",
    "InvalidMoneyError",
    "InvalidNotificationError",
    "InvalidOrderError",
    "InvalidPaymentError",
    "InvalidQuantityError",
    "InvalidValueError",
    "OutOfStockError",
    "UnknownEventTypeError",
    "UnknownProductError",
]


class DomainError(Exception):
    """A business rule refused the operation; retrying it unchanged gives the same answer."""


class InvalidValueError(DomainError, ValueError):
    """A value breaks an invariant of the type being built.

    Also a ValueError, so a pydantic validator that builds a domain value reports a
    validation error rather than crashing.
    """


class InvalidMoneyError(InvalidValueError):
    """An amount or currency code that money cannot hold."""


class InvalidQuantityError(InvalidValueError):
    """A stock quantity that is not a whole number in range."""


class InvalidOrderError(InvalidValueError):
    """An order or order line that breaks the order's invariants."""


class InvalidPaymentError(InvalidValueError):
    """Payment details or a payment that break the payment's invariants."""


class InvalidNotificationError(InvalidValueError):
    """A notification lacking what its type needs to be rendered or recorded."""


class CurrencyMismatchError(DomainError):
    """Two amounts in different currencies were combined or compared."""

    def __init__(self, left: str, right: str) -> None:
        super().__init__(left, right)
        self.left = left
        self.right = right

    def __str__(self) -> str:
        return f"cannot combine {self.left} with {self.right}"


class IllegalTransitionError(DomainError):
    """A status change the entity's transition table does not allow."""

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(entity, current, target)
        self.entity = entity
        self.current = current
        self.target = target

    def __str__(self) -> str:
        return f"{self.entity} cannot go from {self.current} to {self.target}"


class OutOfStockError(DomainError):
    """Fewer units are available than a reservation asked for."""

    def __init__(self, product_id: str, requested: int, available: int) -> None:
        super().__init__(product_id, requested, available)
        self.product_id = product_id
        self.requested = requested
        self.available = available

    def __str__(self) -> str:
        return (
            f"out of stock: {self.product_id} "
            f"(requested {self.requested}, {self.available} available)"
        )


class UnknownProductError(DomainError):
    """A reservation named a product the inventory does not hold."""

    def __init__(self, product_id: str) -> None:
        super().__init__(product_id)
        self.product_id = product_id

    def __str__(self) -> str:
        return f"unknown product: {self.product_id}"


class UnknownEventTypeError(DomainError, LookupError):
    """An event type name (or class) that is not in the event registry."""

    def __init__(self, event_type: str) -> None:
        super().__init__(event_type)
        self.event_type = event_type

    def __str__(self) -> str:
        return f"unknown event type: {self.event_type}"
