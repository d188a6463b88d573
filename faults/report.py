"""docs/faults.md, bench/results/faults.json and a picture of recovery seconds per fault."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

# The two topologies' runs, each kept in its own JSON and picture; the page shows both.
FILES = {
    "dev": ("faults.json", "faults-recovery.png"),
    "production": ("faults-production.json", "faults-recovery-production.png"),
}
PICTURE = FILES["dev"][1]

_PAGE = """\
# What survives what: the fault matrix

`make faults` runs the real system under a steady order load and injects one fault at a
time, on two topologies: the **dev server** (Temporal's persistent dev server, PostgreSQL,
three Kafka brokers) and the **production topology** (`make faults ARGS=--production`: the
two-node Temporal cluster over mTLS on the durable PostgreSQL, three brokers, split
workers, network partitions and a slow link). Each run rewrites its own section and keeps
the other's.

Each fault is injected while its orders run; every
accepted order is followed to its end, then the database, the provider's ledger and the
topics are read. Figures per fault: orders placed / accepted / terminal, POSTs the client
had to resend with the same Idempotency-Key, orders stuck, lost orders, charges (double
charges), events in the store vs on Kafka by `ce_id` (lost, duplicated on the topic —
harmless, consumers dedupe — and applied twice by the dedup consumer), and recovery: seconds
from the fault until every order in flight or placed before it was undone had settled
(outages included). The expected outcome of every fault is written in `faults/plan.py`
before it runs; a row passes when the run matched it.

- [Dev server](#dev-server)
- [Production topology](#production-topology)
- [Reading the figures](#reading-the-figures)
"""

_TITLES = {"dev": "Dev server", "production": "Production topology"}
_COMMANDS = {"dev": "make faults", "production": "make faults ARGS=--production"}

_SECTION = """
## {title}

Produced by `{command}` ({mode} run: {orders} orders per fault at {rate:g}/s, outages of
{outage:g} s; the provider's {provider:g} s, with a charge budget of half that) on
{date}, commit `{commit}`, in {seconds:g} s.
Temporal: {temporal}. Kafka: {kafka}.

![recovery seconds per fault ({title})]({picture})

{header}
"""

_COLUMNS = (
    "#",
    "fault",
    "expected",
    "placed",
    "accepted",
    "terminal",
    "POSTs retried",
    "parked, then retried",
    "stuck",
    "lost orders",
    "charges (double)",
    "events store / Kafka",
    "lost",
    "dup on topic",
    "applied twice",
    "recovery s",
    "verdict",
)
_HEADER = "| " + " | ".join(_COLUMNS) + " |\n|" + "---|" * len(_COLUMNS)


def _row(index: int, row: dict[str, Any]) -> str:
    verdict = "pass" if not row["problems"] else "FAIL: " + "; ".join(row["problems"])
    cells = [
        str(index),
        row["fault"],
        row["expected"],
        row["placed"],
        row["accepted"],
        row["terminal"],
        row["posts_retried"],
        row["parked_needs_attention"],
        len(row["stuck"]),
        len(row["lost_orders"]),
        f"{row['charges']} ({len(row['double_charges'])})",
        f"{row['events_in_store']} / {row['events_on_kafka']}",
        len(row["events_lost"]),
        row["events_duplicated_on_topic"],
        len(row["events_applied_twice"]),
        row["recovery_seconds"] if row["recovery_seconds"] is not None else "—",
        verdict,
    ]
    return "| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |\n"


def write_report(summary: dict[str, Any], docs: Path, out_dir: Path) -> None:
    """Writes this run's JSON and picture, then the page from every topology's JSON found
    in ``out_dir`` (the other topology's section stays as its last run left it)."""
    topology = summary.setdefault("topology", "dev")
    json_name, picture = FILES[topology]
    out_dir.mkdir(parents=True, exist_ok=True)
    docs.parent.mkdir(parents=True, exist_ok=True)
    (out_dir / json_name).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    _plot(summary["rows"], docs.parent / picture, _TITLES[topology])
    render(docs, out_dir)


def render(docs: Path, out_dir: Path) -> None:
    text = _PAGE
    for topology, (json_name, _) in FILES.items():
        source = out_dir / json_name
        if source.exists():
            text += _section(topology, json.loads(source.read_text()))
        else:
            text += f"\n## {_TITLES[topology]}\n\nNot run yet: `{_COMMANDS[topology]}`.\n"
    docs.write_text(text + _READING)


def _section(topology: str, summary: dict[str, Any]) -> str:
    config = summary["config"]
    text = _SECTION.format(
        title=_TITLES[topology],
        command=_COMMANDS[topology],
        mode=summary["mode"],
        orders=config["orders_per_fault"],
        rate=config["rate_per_second"],
        outage=config["outage_seconds"],
        provider=config["provider_outage_seconds"],
        date=summary["date"],
        commit=summary["commit"],
        seconds=summary["seconds"],
        temporal=config["temporal"],
        kafka=config["kafka"],
        picture=FILES[topology][1],
        header=_HEADER,
    )
    text += "".join(_row(i, row) for i, row in enumerate(summary["rows"], start=1))
    text += "\nNotes per fault (what was done):\n\n"
    text += "".join(f"- **{row['fault']}**: {row['note']}\n" for row in summary["rows"])
    text += (
        f"\nCharges without an order record: {len(summary['charges_without_order'])}. "
        f"Mails accepted by the SMTP server: {summary['mails_accepted']}.\n"
    )
    return text


_READING = """
## Reading the figures

- **Recovery** counts until the *orders* settled. Kafka is off the saga's path (events
  wait in the outbox), so the Kafka rows recover in seconds while their events reach the
  topics only once the brokers are back; that they all did is the "lost 0" column, read
  after the run.
- **kill -9 of a worker pool**: the activities it had started are retried when their
  start-to-close timeout expires (10 to 30 s, `workflows/saga_steps.py`), which sets most of
  those rows' recovery; the restarted pool picks up new work within seconds.
- **kill -9 of the API mid-POST**: a POST whose key was claimed but not finished answers
  409 with Retry-After until the claim is taken over as abandoned (30 s,
  `api/services/idempotency.py`); the client keeps resending the same key, so recovery
  there is about 30 s and no key ever gave two orders.
- **Payment provider down past the budget**: the API is restarted for this fault with a
  charge budget of half the outage (the budget travels in each saga's input), so the
  orders placed after that park in NEEDS_ATTENTION; the run then ends the outage, sends
  the operator's `retry` to each and counts one charge per order. Its outage figure
  includes the two API restarts.
- **Temporal** runs as the persistent dev server in the first section; in the production
  section as the two-node cluster, whose node kills and restarts are rows there. A killed
  node is restarted by the run (as `make dev ARGS=--production`'s supervisor does); the
  note says when it answered again.
- **Partitions** (production section) are real: the process is moved into a cgroup of its
  own and iptables drops what that cgroup sends on `lo` to the cut link's ports
  (`faults/partition.py`); nothing else on the machine is touched, and the run's chain
  `ORDERS-FAULTS-<pid>` is removed at the heal and at exit. Without root or iptables
  those rows fail, they are never skipped.
- **Node kills** (production section): every process lists both frontends and uses the
  first; when node1 dies its clients move to node2 after two failed probes
  (`clients/temporal_failover.py`), and calls that land on the dead node's shards are
  retried until the ring evicts it. The note gives the seconds until the killed node
  answered again.
- **PostgreSQL under the cluster**: the one server holds the application's database and
  Temporal's persistence and visibility, so both nodes lose their store for the outage
  too; the note's down time runs from the stop until the server accepts connections
  again after its crash recovery. The first full run on this topology found that a node
  then answers "Namespace orders is not found" for a few seconds, which the API turned
  into a 500 that clients do not retry (7 orders never accepted); the API now reads that
  answer as the workflow service being unavailable (503 + Retry-After,
  `api/services/workflows.py`).
- **The slow link** goes through Toxiproxy (`devstack/toxiproxy.py`), which the workers
  always reach Temporal through in the production run; the fault adds a latency toxic.
- Duplicates *on the topic* are allowed (the relay publishes at least once; after a
  relay's death the standby may resend a batch); what must be 0 is "applied twice" by
  the dedup consumer.

Re-render this page from the runs' JSON: `python -m faults.report bench/results`.
"""


def main() -> None:
    """Re-renders docs/faults.md from the runs' JSON in a folder (bench/results)."""
    render(Path("docs/faults.md"), Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results"))


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    names = [f"{i}. {row['fault']}" for i, row in enumerate(rows, start=1)]
    seconds = [row["recovery_seconds"] or 0.0 for row in rows]
    outages = [row["outage_seconds"] for row in rows]
    colours = ["tab:green" if not row["problems"] else "tab:red" for row in rows]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.5))
    positions = list(range(len(rows)))
    axes.barh(positions, seconds, color=colours, label="recovery (fault → all settled)")
    axes.barh(positions, outages, color="none", edgecolor="black", hatch="//", label="outage")
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    axes.set_xlabel("seconds")
    axes.set_title(f"{title}: seconds to recover (red: the row failed)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    main()
