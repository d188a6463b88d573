"""The bare saga's workflow and no-op activities, in a module of their own.

Free of the project's imports and of pydantic: the workflow sandbox re-imports a workflow's
module for every run, so anything imported here would be charged to the limit, and the
limit runs on the SDK's default data converter (plain JSON), which knows dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class BareQueues:
    """The four queues' shape, as the product has them, under a prefix of the limit's own."""

    orders: str
    inventory: str
    payments: str
    notifications: str

    @classmethod
    def with_prefix(cls, prefix: str) -> BareQueues:
        names = ("orders", "inventory", "payments", "notifications")
        return cls(*(f"{prefix}{name}" for name in names))


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
    async def run(self, order_id: str, queues: BareQueues) -> str:
        for name, queue in (
            ("bare_reserve", queues.inventory),
            ("bare_charge", queues.payments),
            ("bare_notify", queues.notifications),
        ):
            await workflow.execute_activity(
                name, order_id, task_queue=queue, start_to_close_timeout=TIMEOUT
            )
        return order_id
