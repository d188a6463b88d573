"""RestockWorkflow: one per product at a time; alerts admins, waits for the supplier, restocks.

Started by the saga when a reservation drops a product under its reorder point. The
workflow id ``restock-<product_id>`` makes a second low-stock signal while a restock is
under way a no-op, instead of a second purchase order.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from messages.contract import Inventory, Notifications
    from messages.restock import (
        AlertLowStockInput,
        RestockInput,
        RestockInventoryInput,
        RestockResult,
        restock_workflow_id,
    )

PATIENT = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="RestockWorkflow")
class RestockWorkflow:
    @workflow.run
    async def run(self, restock: RestockInput) -> RestockResult:
        low = restock.low_stock
        restock_id = workflow.info().workflow_id + "/" + workflow.info().run_id
        await workflow.execute_activity_method(
            Notifications.alert_low_stock,
            AlertLowStockInput(
                low_stock=low, admin_email=restock.admin_email, restock_id=restock_id
            ),
            task_queue=restock.queues.notifications,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PATIENT,
        )
        # The supplier's lead time is a durable timer: a worker restart does not reset it.
        await workflow.sleep(timedelta(seconds=restock.lead_time_seconds))
        result: RestockResult = await workflow.execute_activity_method(
            Inventory.restock_inventory,
            RestockInventoryInput(
                product_id=low.product_id, quantity=low.reorder_quantity, restock_id=restock_id
            ),
            task_queue=restock.queues.inventory,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PATIENT,
        )
        return result


async def start_restock(restock: RestockInput) -> None:
    """Hand low stock to its own workflow, which outlives the order that found it (ABANDON)."""
    # A restock for this product already under way is enough: one purchase order per product.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await workflow.start_child_workflow(
            RestockWorkflow.run,
            restock,
            id=restock_workflow_id(restock.low_stock.product_id),
            task_queue=restock.queues.orders,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
