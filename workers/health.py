"""Is this worker process alive, and is it polling its task queues?

Live and ready: every worker of the process is still running (a worker whose run() ended
-- a fatal error, a lost server -- leaves a process that polls nothing). Readiness asks
nothing of Temporal: a worker serves no traffic, so "ready" only gates rollouts, and a
frontend outage that made every worker unready would block every node drain while
changing nothing (the workers resume polling on their own when it returns).

Polling (``/pollers``, for people and start-up scripts): Temporal lists this process's
identity among the recent pollers of each of its task queues, i.e. its last poll reached
the server. The server's view is the one that matters: a poll that fails (a wrong
address, a frontend that is down, a TLS mismatch) never shows up there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from telemetry.probes import CachedCheck

__all__ = ["WorkerHealth"]

# A long poll lasts up to a minute; a poller not seen for longer than this has stopped.
POLLER_FRESH_SECONDS = 90.0
# /pollers may be asked every few seconds; ask the server at most this often.
CACHE_SECONDS = 3.0


class WorkerHealth:
    def __init__(self, client: Client, workers: Sequence[Worker]) -> None:
        self._client = client
        self._workers = list(workers)
        self._runs: list[asyncio.Task[None]] = []
        self._polling_fresh = CachedCheck(self._polling, CACHE_SECONDS)

    def watch(self, runs: Sequence[asyncio.Task[None]]) -> None:
        """The tasks running each worker's ``run()``."""
        self._runs = list(runs)

    async def live(self) -> str | None:
        if not self._runs:
            return "the workers have not started"
        for worker, run in zip(self._workers, self._runs, strict=True):
            if run.done():
                error = None if run.cancelled() else run.exception()
                return f"the worker on {worker.task_queue} stopped: {error!r}"
        return None

    async def ready(self) -> str | None:
        return await self.live()

    async def pollers(self) -> str | None:
        """None once Temporal lists this process among each queue's recent pollers."""
        return await self.live() or await self._polling_fresh()

    async def _polling(self) -> str | None:
        for worker in self._workers:
            # The worker's own client: after a failover (clients.temporal_failover) it is
            # the new frontend's, and the one this object was built with may be gone.
            client = worker.client
            identity = worker.config(active_config=True).get("identity") or client.identity
            for kind in _queue_types(worker):
                try:
                    seen = await self._last_poll(client, worker.task_queue, kind, identity)
                except RPCError as exc:
                    frontend = client.service_client.config.target_host
                    return f"Temporal at {frontend} did not answer: {exc}"
                if seen is None:
                    return f"{identity} is not (yet) polling {worker.task_queue}"
                age = datetime.now(UTC) - seen
                if age > timedelta(seconds=POLLER_FRESH_SECONDS):
                    return f"last poll of {worker.task_queue} was {age.total_seconds():.0f}s ago"
        return None

    async def _last_poll(
        self, client: Client, task_queue: str, kind: TaskQueueType.ValueType, identity: str
    ) -> datetime | None:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=kind,
            ),
            timeout=timedelta(seconds=3),
        )
        for poller in response.pollers:
            if poller.identity == identity:
                return poller.last_access_time.ToDatetime(tzinfo=UTC)
        return None


def _queue_types(worker: Worker) -> list[TaskQueueType.ValueType]:
    config = worker.config()
    kinds: list[TaskQueueType.ValueType] = []
    if config["workflows"]:
        kinds.append(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    if config["activities"]:
        kinds.append(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
    return kinds
