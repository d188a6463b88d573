"""The bare saga's workflow and no-op activities, in a module of their own.

Kept free of the project's imports: the workflow sandbox re-imports a workflow's module
for every run, so anything heavy imported here would be charged to the limit, not to us.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from messages.queues import TaskQueues

TIMEOUT = timedelta(seconds=30)


@activity.defn(name="bare_reserve")
async def bare_reserve(order_id: str) -> str:
    return order_id


@activity.defn(name="bare_charge")
async def bare_charge(order_id: str) -> str:
    return order_id


@activity.defn(name="bare_notify")
async def bare_notify(order_id: str) -> str:
    return order_id


@workflow.defn(name="BareSaga")
class BareSaga:
    @workflow.run
    async def run(self, order_id: str, queues: TaskQueues) -> str:
        for name, queue in (
            ("bare_reserve", queues.inventory),
            ("bare_charge", queues.payments),
            ("bare_notify", queues.notifications),
        ):
            await workflow.execute_activity(
                name, order_id, task_queue=queue, start_to_close_timeout=TIMEOUT
            )
        return order_id
