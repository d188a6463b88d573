"""One fault's figures, and the verdict against what was written down for it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bench.load import TERMINAL, Placement
from faults.audit import Books
from faults.plan import Fault

# Whatever a fault does, once it is undone (and a parked order retried) this is the end.
FINAL = "CONFIRMED"


@dataclass
class FaultRun:
    fault: Fault
    note: str
    placements: list[Placement]
    parked: int
    outage_seconds: float
    recovery_seconds: float | None
    problems: list[str] = field(default_factory=list)


def judge(run: FaultRun, books: Books, applied: Counter[str]) -> dict[str, object]:
    accepted = [p for p in run.placements if p.order_id is not None]
    ids = {str(p.order_id) for p in accepted}
    problems = list(run.problems)
    refused = [p for p in run.placements if p.order_id is None]
    if refused:
        problems.append(f"{len(refused)} orders never accepted ({refused[0].error})")
    lost_orders = sorted(ids - set(books.statuses))
    stuck = sorted(str(p.order_id) for p in accepted if p.status not in TERMINAL)
    unexpected = sorted(
        f"{p.order_id}={p.status}" for p in accepted if p.status in TERMINAL and p.status != FINAL
    )
    disagree = sorted(
        f"{p.order_id}: api {p.status}, db {books.statuses[str(p.order_id)]}"
        for p in accepted
        if str(p.order_id) in books.statuses
        and p.status in TERMINAL
        and books.statuses[str(p.order_id)] != p.status
    )
    paid = [i for i in ids if books.statuses.get(i) == FINAL]
    double = sorted(i for i in ids if books.charges[i] > 1)
    unpaid = sorted(i for i in paid if books.charges[i] == 0)
    events = [e for e, order in books.events.items() if order in ids]
    lost_events = sorted(e for e in events if books.on_topics[e] == 0)
    duplicated = sum(1 for e in events if books.on_topics[e] > 1)
    applied_twice = sorted(e for e in events if applied[e] > 1)
    not_applied = sorted(e for e in events if applied[e] == 0)
    for label, found in (
        ("lost orders", lost_orders),
        ("stuck", stuck),
        ("unexpected terminal states", unexpected),
        ("api and database disagree", disagree),
        ("double charges", double),
        ("confirmed without a charge", unpaid),
        ("lost events", lost_events),
        ("events applied twice", applied_twice),
        ("events the dedup consumer never applied", not_applied),
    ):
        if found:
            problems.append(f"{label}: {len(found)} ({', '.join(found[:5])})")
    if run.fault.name.startswith("payment provider") and not run.parked:
        problems.append("no order reached NEEDS_ATTENTION: the outage did not pass the budget")
    retried = [p for p in accepted if p.retried]
    return {
        "fault": run.fault.name,
        "what": run.fault.what,
        "expected": run.fault.expected,
        "note": run.note,
        "placed": len(run.placements),
        "accepted": len(accepted),
        "posts_retried": len(retried),
        "terminal": sum(1 for p in accepted if p.status in TERMINAL),
        "statuses": dict(Counter(str(p.status) for p in accepted)),
        "parked_needs_attention": run.parked,
        "stuck": stuck,
        "lost_orders": lost_orders,
        "paid_orders": len(paid),
        "charges": sum(books.charges[i] for i in ids),
        "double_charges": double,
        "events_in_store": len(events),
        "events_on_kafka": sum(1 for e in events if books.on_topics[e]),
        "events_lost": lost_events,
        "events_duplicated_on_topic": duplicated,
        "events_applied_twice": applied_twice,
        "outage_seconds": run.outage_seconds,
        "recovery_seconds": run.recovery_seconds,
        "problems": problems,
    }
