"""Task queue names: fixed, so any tool (CLI, Web UI, another team's worker) can address them."""

from __future__ import annotations

from pydantic import BaseModel

ORDERS = "orders"  # workflows only
INVENTORY = "inventory"
PAYMENTS = "payments"
NOTIFICATIONS = "notifications"

ALL = (ORDERS, INVENTORY, PAYMENTS, NOTIFICATIONS)


class TaskQueues(BaseModel):
    """Carried in workflow inputs so a deployment (or a test) can run its own set of pools."""

    orders: str = ORDERS
    inventory: str = INVENTORY
    payments: str = PAYMENTS
    notifications: str = NOTIFICATIONS

    @classmethod
    def with_prefix(cls, prefix: str) -> TaskQueues:
        return cls(**{name: f"{prefix}{name}" for name in ALL})


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"
