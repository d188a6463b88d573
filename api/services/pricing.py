"""An order's lines priced from the catalog, and the limits an order must keep.

The client names products and quantities only; every price comes from the products table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import (
    InvalidField,
    InvalidFieldsError,
    MixedCurrenciesError,
    TotalTooLargeError,
    UnknownProductsError,
)
from api.schemas import OrderCreate
from api.services.catalog import CatalogCache
from config.settings import ApiSettings
from messages.saga import OrderLine
from persistence.types import MONEY_PRECISION, MONEY_SCALE

# orders.total_amount is NUMERIC(12,2): a larger total could never be recorded.
MAX_TOTAL = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE) - Decimal("0.01")


@dataclass(frozen=True)
class PricedOrder:
    currency: str
    lines: list[OrderLine]

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0.00"))


def check_limits(body: OrderCreate, limits: ApiSettings) -> None:
    """The configured caps on items per order and quantity per item."""
    failures: list[InvalidField] = []
    if len(body.items) > limits.max_items_per_order:
        failures.append(
            InvalidField(
                ("body", "items"),
                f"at most {limits.max_items_per_order} items per order",
                "too_long",
            )
        )
    for index, item in enumerate(body.items):
        if item.quantity > limits.max_quantity_per_item:
            failures.append(
                InvalidField(
                    ("body", "items", index, "quantity"),
                    f"at most {limits.max_quantity_per_item} per item",
                    "less_than_equal",
                )
            )
    if failures:
        raise InvalidFieldsError(failures)


async def price_order(
    session: AsyncSession, body: OrderCreate, prices: CatalogCache
) -> PricedOrder:
    wanted = list(dict.fromkeys(item.product_id for item in body.items))
    catalog = await prices.prices(session, wanted)
    unknown = {
        index: item.product_id
        for index, item in enumerate(body.items)
        if item.product_id not in catalog
    }
    if unknown:
        raise UnknownProductsError(unknown)
    currencies = sorted({catalog[product_id].currency for product_id in wanted})
    if len(currencies) > 1:
        raise MixedCurrenciesError(currencies)
    priced = PricedOrder(
        currency=currencies[0],
        lines=[
            OrderLine(
                product_id=item.product_id,
                quantity=item.quantity,
                unit_price=catalog[item.product_id].unit_price,
            )
            for item in body.items
        ],
    )
    if priced.total > MAX_TOTAL:
        raise TotalTooLargeError(MAX_TOTAL, priced.currency)
    return priced
