"""Build B's saga for the versioning test: the production saga with a timer before its
first step, and no patch gating it.

Replaying a history recorded by build A (whose first command schedules the reservation)
on this code would fail with nondeterminism: the test proves no A saga ever runs here.
Kept in a module of its own, importing only the workflow, so the sandbox can load it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from messages.saga import OrderSagaInput, SagaResult

from workflows.order_saga import OrderSaga

# The new path's mark: a timer of this length, seen in the history of B's sagas only.
SETTLE = timedelta(milliseconds=300)


@workflow.defn(name="OrderSaga")
class ChangedOrderSaga(OrderSaga):
    @workflow.init
    def __init__(self, saga: OrderSagaInput) -> None:
        super().__init__(saga)

    @workflow.run
    async def run(self, saga: OrderSagaInput) -> SagaResult:
        await workflow.sleep(SETTLE)
        return await super().run(saga)
