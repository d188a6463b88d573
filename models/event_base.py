"""What every domain event is (models/events.py lists them): a frozen, keyword-only
dataclass of JSON-friendly fields, about one aggregate's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import ClassVar, Literal

__all__ = ["AggregateType", "DomainEvent", "EventItem"]

# Picks the Kafka topic: <aggregate_type>-events.
AggregateType = Literal["order", "inventory", "payment", "notification"]


@dataclass(frozen=True)
class EventItem:
    """One order line as events carry it; inventory events leave the price out."""

    product_id: str
    quantity: int
    unit_price: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    aggregate_type: ClassVar[AggregateType]
    schema_version: ClassVar[int] = 1

    def __post_init__(self) -> None:
        # Money travels as Decimal; a float here would already have lost cents.
        for field in fields(self):
            if isinstance(getattr(self, field.name), float):
                raise TypeError(f"{type(self).__name__}.{field.name} must not be a float")

    @property
    def aggregate_id(self) -> str:
        """Whose timeline this event belongs to: the order id, or a product id for stock."""
        raise NotImplementedError
