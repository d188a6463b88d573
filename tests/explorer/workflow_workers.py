"""The explorer's orders workers, in a process of their own.

Workflow activations (the sandbox, and every task of a replaying saga replayed from its
history) are most of the explorer's Python CPU; in the process that also runs the
activity fakes and the client they shared one core. Run apart, they use the other.

    python -m tests.explorer.workflow_workers ADDRESS CACHED_QUEUE REPLAYING_QUEUE
"""

from __future__ import annotations

import asyncio
import logging
import sys

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from workers.sandbox import WORKFLOW_RUNNER
from workflows import WORKFLOWS


async def serve(address: str, cached: str, replaying: str) -> None:
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    # The replaying pool keeps no workflow in cache: every task replays the history first,
    # a worker restart at every step, which is where non-determinism shows.
    async with (
        Worker(
            client,
            task_queue=cached,
            workflows=WORKFLOWS,
            workflow_runner=WORKFLOW_RUNNER,
            max_cached_workflows=1000,
        ),
        Worker(
            client,
            task_queue=replaying,
            workflows=WORKFLOWS,
            workflow_runner=WORKFLOW_RUNNER,
            max_cached_workflows=0,
        ),
    ):
        print("ready", flush=True)  # noqa: T201 - the parent waits for this line
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:4]))
