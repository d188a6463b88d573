"""The limit: a saga of three no-op activities on the same queues' shape, nothing else.

It runs on the same Temporal server as the product, so product ÷ bare is what the
project's own code costs, whatever the machine's speed that day.
``python -m bench.bare --prefix P`` runs its worker as a separate process, like ours.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.worker import Worker

from bench.bare_workflow import BareSaga, bare_charge, bare_notify, bare_reserve
from clients.temporal import connect_temporal
from config.settings import TemporalSettings
from messages.queues import TaskQueues


async def run_worker(address: str, prefix: str) -> None:
    client = await connect_temporal(TemporalSettings(address=address))
    queues = TaskQueues.with_prefix(prefix)
    activities = [bare_reserve, bare_charge, bare_notify]
    workers = [
        Worker(client, task_queue=queues.orders, workflows=[BareSaga]),
        Worker(client, task_queue=queues.inventory, activities=activities),
        Worker(client, task_queue=queues.payments, activities=activities),
        Worker(client, task_queue=queues.notifications, activities=activities),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await stop.wait()
    await asyncio.gather(*(w.shutdown() for w in workers))
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--prefix", default="bare-")
    args = parser.parse_args()
    asyncio.run(run_worker(args.address, args.prefix))
