"""Workflow definitions: deterministic code that imports only pure modules."""

from workflows.order_saga import OrderSaga
from workflows.restock import RestockWorkflow

WORKFLOWS = [OrderSaga, RestockWorkflow]

__all__ = ["WORKFLOWS", "OrderSaga", "RestockWorkflow"]
