"""Hypothesis over schedules: generated in batches, each batch run at once, every outcome
checked against the invariants; a failing batch shrinks to its minimal schedule.

Used by the suite (tests/explorer/test_explorer.py: a fixed seed, ``EXPLORER_SCHEDULES``
schedules, 2,000 by default) and by ``make explore`` (``python -m tests.explorer``: many
more, with progress), so both explore the same space the same way.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.explorer.runner import (
    Outcome,
    ScheduleFailedError,
    explorer_environment,
    run_schedules,
)
from tests.explorer.schedules import Schedule, schedules

__all__ = ["BATCH", "Explorer", "explore", "running_explorer"]

T = TypeVar("T")

# Schedules run at once: enough to keep the server busy, few enough for the slowest to
# settle quickly (a batch takes as long as its slowest schedule).
BATCH = int(os.environ.get("EXPLORER_BATCH", "100"))


@dataclass
class Explorer:
    """The explorer's environment, running on its own event loop in a thread, so that a
    synchronous Hypothesis test can hand it batch after batch."""

    loop: asyncio.AbstractEventLoop
    run_batch: Callable[[Sequence[Schedule]], Coroutine[Any, Any, list[Outcome]]]
    schedules_run: int = 0
    # Set by the first failing batch: from then on Hypothesis shrinks it, and every
    # example it tries must run (the count no longer matters).
    failing: bool = False
    started: float = field(default_factory=time.monotonic)

    def run(self, batch: Sequence[Schedule]) -> list[Outcome]:
        future: Future[list[Outcome]] = asyncio.run_coroutine_threadsafe(
            self.run_batch(batch), self.loop
        )
        outcomes = future.result()
        self.schedules_run += len(outcomes)
        return outcomes


@contextmanager
def running_explorer() -> Iterator[Explorer]:
    """Start the server and workers in a background loop; stop them on the way out."""
    loop = asyncio.new_event_loop()
    ready: Future[Explorer] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        try:
            async with explorer_environment() as (env, world, pools):

                async def batch(schedules: Sequence[Schedule]) -> list[Outcome]:
                    return await run_schedules(env.client, world, pools, schedules)

                ready.set_result(Explorer(loop, batch))
                await stop.wait()
        except BaseException as failed:
            if not ready.done():
                ready.set_exception(failed)
            raise

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=120)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)


def explore(
    explorer: Explorer,
    *,
    schedules_wanted: int,
    seed: int | None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run ``schedules_wanted`` generated schedules; raise ScheduleFailedError (shrunk by
    Hypothesis) on the first batch whose outcomes break an invariant."""
    # A slot in a batch may be empty (None): shrinking empties every slot but the failing
    # ones, so a minimal example is the failing schedule alone, and each shrink step runs
    # only what is left. How many slots Hypothesis leaves empty varies, so examples run
    # until ``schedules_wanted`` schedules have, and the rest are passed over.
    slot = st.one_of(st.none(), *[schedules()] * 7)
    target = explorer.schedules_run + schedules_wanted

    @settings(
        max_examples=schedules_wanted // 10 + 20,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(batch=st.lists(slot, min_size=BATCH, max_size=BATCH))
    def check(batch: list[Schedule | None]) -> None:
        if explorer.schedules_run >= target and not explorer.failing:
            return
        outcomes = explorer.run([schedule for schedule in batch if schedule is not None])
        if progress is not None:
            progress(_progress(explorer, schedules_wanted))
        failed = tuple(outcome for outcome in outcomes if outcome.problems)
        if failed:
            explorer.failing = True
            raise ScheduleFailedError(failed)

    if seed is not None:
        check = hypothesis_seed(seed)(check)
    check()
    if explorer.schedules_run < target:
        raise AssertionError(
            f"only {explorer.schedules_run} schedules ran, {schedules_wanted} were wanted"
        )


def _progress(explorer: Explorer, wanted: int) -> str:
    took = time.monotonic() - explorer.started
    rate = explorer.schedules_run / took if took else 0.0
    return (
        f"explored {explorer.schedules_run} schedules (of at least {wanted}) in {took:.0f} s, "
        f"{rate:.1f}/s, 0 violations"
    )


def print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # noqa: T201 - a long run shows its progress
