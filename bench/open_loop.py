"""POST /orders latency at a fixed arrival rate: what a shop front sees on a busy day.

A closed loop (N clients, each waiting for its answer) slows its own arrivals down when the
service slows, so its latency hides queueing; here requests leave on a schedule whatever
the answers do (open loop), at half the product's measured peak, where a healthy service
still has headroom. Each POST's departure is checked against its schedule: a load
generator starved of CPU would otherwise pass its own lateness off as the API's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bench.measure import accepted
from bench.topology import Bench


@dataclass
class OpenLoop:
    rate: float
    seconds: float
    post_latencies: list[float] = field(default_factory=list)
    # Seconds each POST left after its scheduled time.
    lateness: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)


async def post_at_rate(bench: Bench, rate: float, seconds: float) -> OpenLoop:
    count = max(2, round(rate * seconds))
    load = bench.orders.load
    label = f"open loop, POST /orders at {rate:.2f}/s for {seconds:g} s"

    def answered() -> int:
        return sum(1 for p in load.placed if p.post_seconds)

    async with bench.progress.counting(label, answered, count):
        placements = await load.steady(rate, count)
    first = placements[0].sent_at
    result = OpenLoop(
        rate=rate,
        seconds=seconds,
        post_latencies=[p.post_seconds for p in placements],
        lateness=[max(0.0, p.sent_at - (first + i / rate)) for i, p in enumerate(placements)],
    )
    # Every saga ends before the next phase, so that one starts on a quiet stack.
    order_ids = [accepted(p) for p in placements]
    bench.orders.placed.extend(order_ids)

    async def follow(order_id: str) -> None:
        status = await bench.orders.outcome(order_id)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    def ended() -> int:
        return sum(result.statuses.values())

    async with bench.progress.counting("open loop, sagas ending", ended, count):
        await asyncio.gather(*(follow(order_id) for order_id in order_ids))
    return result
