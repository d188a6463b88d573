"""The limit: a saga of three no-op activities on the same queues' shape, nothing else.

It runs on the same Temporal server as the product, so product ÷ bare is what the
project's own code costs, whatever the machine's speed that day. Frozen on purpose: a
plain client (the SDK's default converter, no payload codec, no tracing interceptor, no
metrics runtime) and one worker process for all four queues, whatever the product's own
configuration becomes, so the yardstick never moves with what it measures.
``python -m bench.bare --address A --prefix P`` runs its worker as a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BareQueues, BareSaga, bare_charge, bare_notify, bare_reserve


async def run_worker(address: str, namespace: str, prefix: str) -> None:
    client = await Client.connect(address, namespace=namespace)
    queues = BareQueues.with_prefix(prefix)
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
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--prefix", default="bare-")
    args = parser.parse_args()
    asyncio.run(run_worker(args.address, args.namespace, args.prefix))
