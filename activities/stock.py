"""The restock messages a reservation answers with, from the domain's LowStockDetected."""

from __future__ import annotations

from messages.restock import LowStock, RestockInput
from models import LowStockDetected

__all__ = ["low_stock_of", "restock_input"]


def restock_input(low: LowStock, *, lead_time_seconds: float, admin_email: str) -> RestockInput:
    return RestockInput(low_stock=low, lead_time_seconds=lead_time_seconds, admin_email=admin_email)


def low_stock_of(event: LowStockDetected) -> LowStock:
    return LowStock(
        product_id=event.product_id,
        available=event.available,
        reorder_point=event.reorder_point,
        reorder_quantity=event.reorder_quantity,
    )
