"""Workflow definitions: deterministic code that imports only pure modules."""

from workflows.order_saga import OrderSaga
from workflows.refund import RefundWorkflow
from workflows.restock import RestockWorkflow

WORKFLOWS = [OrderSaga, RestockWorkflow, RefundWorkflow]

__all__ = ["WORKFLOWS", "OrderSaga", "RefundWorkflow", "RestockWorkflow"]
