"""``make faults``: the real stack under a steady order load, one fault at a time.

For each fault (faults/plan.py, expectations written down first): orders run, the fault is
injected mid-load and undone, every order is followed to its end; after the last fault the
database, the provider's ledger and the topics are read and each fault's orders judged.
Writes docs/faults.md, bench/results/faults.json and a PNG of recovery seconds; exits 1 on
any lost order or event, double charge, charge without an order, stuck order or
unexpected state.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.load import Placement
from faults import audit
from faults.harness import Harness, running
from faults.inject import ExpectationError, Injection, injection
from faults.inject_cluster import CLUSTER_INJECTIONS
from faults.judge import FaultRun, judge
from faults.partition import PartitionUnavailableError
from faults.plan import FAULTS, PRODUCTION_FAULTS, PRODUCTION_QUICK, Fault
from faults.report import write_report
from messages.queues import order_workflow_id
from workflows.order_saga import OrderSaga

PROVIDER = next(f for f in FAULTS if f.name.startswith("payment provider"))
SLOW_LINK = next(f for f in PRODUCTION_FAULTS if f.name.startswith("slow link"))


@dataclass
class RunConfig:
    orders: int = 40  # per fault
    rate: float = 4.0  # orders per second, open loop
    lead: float = 3.0  # seconds of load before the fault
    outage: float = 30.0
    settle: float = 240.0
    quick: bool = False
    production: bool = False
    run_dir: Path = Path(".run/faults")
    docs: Path = Path("docs/faults.md")
    out_dir: Path = Path("bench/results")
    only: list[str] = field(default_factory=list)

    @classmethod
    def quick_run(cls) -> RunConfig:
        return cls(orders=8, rate=4.0, lead=1.0, outage=5.0, quick=True)

    def outage_for(self, fault: Fault) -> float:
        if fault is PROVIDER:
            # Twice the charge budget (inject.provider_down): orders run out of it.
            return max(2 * self.outage, 20.0)
        if fault is SLOW_LINK:
            return 15.0 if self.quick else 60.0
        return self.outage

    def plan(self) -> list[Fault]:
        if not self.production:
            faults = list(FAULTS)
        elif self.quick and not self.only:
            faults = [f for f in PRODUCTION_FAULTS if f.name in PRODUCTION_QUICK]
        else:
            faults = list(PRODUCTION_FAULTS)
        return [f for f in faults if not self.only or any(o in f.name for o in self.only)]


def _injection(name: str) -> Injection:
    return CLUSTER_INJECTIONS.get(name) or injection(name)


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201


async def _progress(h: Harness, index: int, total: int, fault: Fault, start: int) -> None:
    """Follows the fault's orders while it runs (so their end is seen when it happens)."""
    began = last = time.monotonic()
    while True:
        await asyncio.sleep(1)
        mine = h.load.placed[start:]
        await h.load.wait_terminal(mine, 0, fault.settles_in)
        if time.monotonic() - last < 5:
            continue
        last = time.monotonic()
        done = sum(p.finished_at is not None for p in mine)
        say(
            f"[fault {index} of {total}] {fault.name}: placed {len(mine)}, done {done},"
            f" {done / (last - began):.1f} orders/s"
        )


async def run_fault(
    h: Harness, fault: Fault, config: RunConfig, index: int, total: int
) -> FaultRun:
    say(f"[fault {index} of {total}] {fault.name}: {fault.what}")
    say(f"    expected: {fault.expected}")
    start = len(h.load.placed)
    progress = asyncio.create_task(_progress(h, index, total, fault, start))
    load = asyncio.create_task(h.load.steady(config.rate, config.orders))
    await asyncio.sleep(config.lead)
    injected = time.monotonic()
    problems: list[str] = []
    try:
        note = await _injection(fault.name)(h, config.outage_for(fault))
    except (ExpectationError, PartitionUnavailableError) as exc:
        note = str(exc)
        problems.append(note)
    restored = time.monotonic()
    placements: list[Placement] = await load
    stuck = await h.load.wait_terminal(placements, config.settle, fault.settles_in)
    attention = [p for p in placements if p.status == "NEEDS_ATTENTION"]
    if attention:
        for placement in attention:
            handle = h.temporal.get_workflow_handle(order_workflow_id(str(placement.order_id)))
            await handle.signal(OrderSaga.retry)
        say(f"    {len(attention)} orders in NEEDS_ATTENTION; the operator's retry sent")
        stuck = await h.load.wait_terminal(attention, config.settle, {"CONFIRMED"})
    progress.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await progress
    in_flight = [p for p in placements if p.sent_at <= restored]
    ends = [p.finished_at for p in in_flight if p.finished_at is not None]
    recovery = round(max(ends) - injected, 1) if ends and not stuck else None
    say(f"    {note}; recovered in {recovery} s; stuck {len(stuck)}")
    return FaultRun(
        fault=fault,
        note=note,
        placements=placements,
        parked=len(attention),
        outage_seconds=round(restored - injected, 1),
        recovery_seconds=recovery,
        problems=problems,
    )


async def _drain(h: Harness, wait: float = 180.0) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        left = await asyncio.to_thread(audit.unpublished, h.conninfo)
        if left == 0:
            return
        await asyncio.sleep(1)
    say("    the outbox did not drain in time; unpublished events count as lost")


async def _main(config: RunConfig) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM (CI's timeout, a supervisor) stops the stack as Ctrl-C does.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    plan = config.plan()
    runs_of = [(f, n) for f in plan for n in range(1 if config.quick else f.repeat)]
    run_dir = config.run_dir / uuid.uuid4().hex[:6]
    started = time.monotonic()
    async with running(run_dir, {}, say, production=config.production) as h:
        h.add_standby_relay()
        runs = [
            await run_fault(h, fault, config, i, len(runs_of))
            for i, (fault, _) in enumerate(runs_of, start=1)
        ]
        say("all faults done; waiting for the outbox and the dedup consumer to catch up")
        await _drain(h)
        order_ids = [str(p.order_id) for run in runs for p in run.placements if p.order_id]
        books = await asyncio.to_thread(audit.read_database, h.conninfo, order_ids)
        await _applied(h, set(books.events))
        assert h.stack.kafka is not None
        await asyncio.to_thread(audit.read_topics, h.stack.kafka.bootstrap_servers, books)
        assert h.stack.provider is not None
        ledger = str(h.stack.provider.ledger_path)
        await asyncio.to_thread(audit.read_ledger, ledger, books, order_ids)
        rows = [judge(run, books, h.applied.counts) for run in runs]
        mails = h.mail.mailbox.accepted
        consumer_restarts = h.dedup.restarts
    summary = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "mode": "quick" if config.quick else "full",
        "seconds": round(time.monotonic() - started, 1),
        "config": {
            "orders_per_fault": config.orders,
            "rate_per_second": config.rate,
            "outage_seconds": config.outage,
            "provider_outage_seconds": config.outage_for(PROVIDER),
            "temporal": TOPOLOGY[config.production],
            "kafka": "3 brokers, KRaft, replication 3, min.insync.replicas 2",
        },
        "topology": "production" if config.production else "dev",
        "mails_accepted": mails,
        "dedup_consumer_restarts": consumer_restarts,
        "charges_without_order": books.charges_without_order,
        "rows": rows,
    }
    write_report(summary, config.docs, config.out_dir)
    failed = [row for row in rows if row["problems"]] or books.charges_without_order
    say(f"wrote {config.docs} and {config.out_dir} ({summary['seconds']:g} s)")
    for row in rows:
        problems = [str(problem) for problem in row["problems"]]  # type: ignore[attr-defined]
        mark = "ok  " if not problems else "FAIL"
        say(f"  {mark} {row['fault']}: {'; '.join(problems) or row['recovery_seconds']}")
    return 1 if failed else 0


async def _applied(h: Harness, event_ids: set[str], wait: float = 300.0) -> None:
    """Until the dedup consumer applied every event; one that stalls is started again."""
    deadline = time.monotonic() + wait
    seen, progressed = 0, time.monotonic()
    while time.monotonic() < deadline and not event_ids <= set(h.applied.counts):
        await asyncio.sleep(1)
        if len(h.applied.counts) != seen:
            seen, progressed = len(h.applied.counts), time.monotonic()
        elif time.monotonic() - progressed > 20:
            h.dedup.restart()
            progressed = time.monotonic()


TOPOLOGY = {
    False: "dev server (persistent SQLite)",
    True: "two-node cluster v1.32.2 over mTLS on the durable, WAL-archived PostgreSQL that"
    " also holds the application's database; processes connected to both frontends, the"
    " workers through Toxiproxy",
}


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, as make does
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few orders, short outages")
    parser.add_argument(
        "--production",
        action="store_true",
        help="the production topology: two-node Temporal cluster, partitions, a slow link",
    )
    parser.add_argument("--orders", type=int, help="orders per fault")
    parser.add_argument("--outage", type=float, help="seconds each fault lasts (30; quick 5)")
    parser.add_argument("--only", action="append", default=[], help="faults whose name has this")
    parser.add_argument("--docs", type=Path, help="where the table goes (docs/faults.md)")
    parser.add_argument("--out-dir", type=Path, help="where faults.json and the PNG go")
    args = parser.parse_args()
    config = RunConfig.quick_run() if args.quick else RunConfig()
    if args.orders:
        config.orders = args.orders
    config.only = args.only
    if args.outage:
        config.outage = args.outage
    config.production = args.production
    if args.docs:
        config.docs = args.docs
    if args.out_dir:
        config.out_dir = args.out_dir
    loop = asyncio.new_event_loop()
    code = loop.run_until_complete(_main(config))
    sys.stdout.flush()
    sys.stderr.flush()
    # Not asyncio.run: its exit joins the executor's threads, and a Kafka client call left
    # hanging by a broker fault (the stack is already stopped) would hold the run forever.
    os._exit(code)
