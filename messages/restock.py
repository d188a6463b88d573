"""The restock flow's messages: low stock detected → admins alerted → supplier delivers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from messages.queues import TaskQueues


class LowStock(BaseModel):
    product_id: str
    available: int
    reorder_point: int
    reorder_quantity: int


class RestockInput(BaseModel):
    low_stock: LowStock
    lead_time_seconds: float = Field(ge=0)
    admin_email: str
    queues: TaskQueues = Field(default_factory=TaskQueues)


class AlertLowStockInput(BaseModel):
    low_stock: LowStock
    admin_email: str
    # One alert per restock run: the workflow id makes the notification idempotent.
    restock_id: str


class RestockInventoryInput(BaseModel):
    product_id: str
    quantity: int = Field(ge=1)
    restock_id: str


class RestockResult(BaseModel):
    product_id: str
    quantity_on_hand: int
    applied: bool


def restock_workflow_id(product_id: str) -> str:
    return f"restock-{product_id}"
