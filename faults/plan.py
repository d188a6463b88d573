"""The faults and what each must lead to, written down before anything runs.

A run compares what happened with ``expected``: every accepted order reaches a state in
``settles_in`` (anything else is an unexpected terminal state, anything not settled is
stuck), and the invariants hold for every fault alike: no lost order, no charge without an
order, no double charge, no lost event, no event applied twice by the dedup consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

from messages import queues

CONFIRMED = frozenset({"CONFIRMED"})


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    expected: str
    # The states the fault's orders must settle in; NEEDS_ATTENTION counts as settled only
    # where the fault is expected to park orders there (and is then resolved by the run).
    settles_in: frozenset[str] = CONFIRMED
    # Runs of this fault in the full run (the quick run does each once).
    repeat: int = 1


FAULTS: tuple[Fault, ...] = (
    *(
        Fault(
            f"kill-9 worker-{queue}",
            f"SIGKILL of the {queue} worker pool while its activities run; the supervisor"
            " restarts it",
            "all CONFIRMED, one charge each; Temporal retries the lost tasks after the restart",
        )
        for queue in ("orders", "inventory", "payments", "notifications")
    ),
    Fault(
        "kill-9 api mid-POST",
        "SIGKILL of the API while POSTs are in flight; clients resend with the same"
        " Idempotency-Key",
        "every key gives one order, all CONFIRMED; retries see connection errors, then 202",
    ),
    Fault(
        "kill-9 relay leader",
        "SIGKILL of the outbox relay holding the lease, a standby running",
        "the standby takes the lease; every event on Kafka, none applied twice",
    ),
    Fault(
        "kill-9 one kafka broker",
        "SIGKILL of one of three brokers (RF 3, min ISR 2), restarted after the outage",
        "publishing goes on with two brokers; every event on Kafka",
    ),
    Fault(
        "all kafka brokers stopped",
        "every broker stopped for the outage, then started",
        "orders go on (Kafka is off the saga's path); events wait in the outbox and all"
        " arrive after",
    ),
    Fault(
        "postgres fast restart",
        "pg_ctl stop -m fast, then start",
        "503 + Retry-After while down, clients retry; all CONFIRMED, nothing lost",
    ),
    Fault(
        "postgres immediate stop",
        "pg_ctl stop -m immediate (crash, recovery from WAL), then start",
        "nothing committed lost; all CONFIRMED, one charge each",
        repeat=3,
    ),
    Fault(
        "temporal restart",
        "the Temporal dev server (persistent SQLite) stopped and started",
        "POSTs get 503 and are retried; sagas resume from history; all CONFIRMED",
    ),
    Fault(
        "smtp down",
        "the mail server stopped for the outage (notifications channel smtp)",
        "sending is retried; once it is back every order CONFIRMED and every notice sent",
    ),
    Fault(
        "payment provider down past the charge budget",
        "the shared provider service in its outage (tools.provider) for longer than"
        " ORDERS_SAGA__CHARGE_BUDGET_SECONDS",
        "orders park in NEEDS_ATTENTION (not stuck); after the outage an operator's retry"
        " confirms each with exactly one charge",
        settles_in=frozenset({"NEEDS_ATTENTION", "CONFIRMED"}),
    ),
    Fault(
        "sigterm worker-payments mid-activity",
        "SIGTERM to the payments worker while charges run",
        "it drains within ORDERS_WORKERS__GRACEFUL_SHUTDOWN_SECONDS and exits; the"
        " supervisor restarts it; all CONFIRMED",
    ),
)


def _dev(name: str) -> Fault:
    return next(fault for fault in FAULTS if fault.name == name)


# The production topology (--production): the two-node Temporal cluster over mTLS on the
# durable PostgreSQL that also holds the application's database, three brokers, processes
# connected to both frontends (the workers through Toxiproxy). The dev-server rows that
# make sense there, the cluster's own, and the network's.
PRODUCTION_FAULTS: tuple[Fault, ...] = (
    *(_dev(f"kill-9 worker-{queue}") for queue in queues.ALL),
    _dev("kill-9 api mid-POST"),
    _dev("kill-9 relay leader"),
    _dev("kill-9 one kafka broker"),
    _dev("all kafka brokers stopped"),
    Fault(
        "postgres fast restart",
        "pg_ctl stop -m fast of the one cluster holding the application's and Temporal's"
        " databases, then start",
        "503 + Retry-After while down, clients retry; both Temporal nodes ride it out; all"
        " CONFIRMED, nothing lost",
    ),
    Fault(
        "postgres immediate stop",
        "pg_ctl stop -m immediate (crash, recovery from WAL) of that cluster under the two"
        " Temporal nodes: Temporal's persistence and visibility stop too, then start",
        "nothing committed lost, in either database; the nodes retry their persistence calls;"
        " all CONFIRMED, one charge each",
        repeat=3,
    ),
    Fault(
        "kill-9 temporal node1 (the frontend in use)",
        "SIGKILL of the node whose frontend every process connects through (the first"
        " address); the harness restarts it",
        "processes move to node2's frontend (FrontendFailover); calls on node1's shards fail"
        " until the ring evicts it and are retried; all CONFIRMED, one charge each",
    ),
    Fault(
        "kill-9 temporal node2",
        "SIGKILL of the other node; the harness restarts it",
        "node1 takes node2's shards once the ring evicts it; calls on them are retried"
        " meanwhile; all CONFIRMED, one charge each",
    ),
    Fault(
        "both temporal nodes restarted",
        "both nodes stopped (SIGTERM), then started one after the other",
        "POSTs get 503 and are retried; sagas resume from history; all CONFIRMED",
    ),
    _dev("smtp down"),
    _dev("payment provider down past the charge budget"),
    _dev("sigterm worker-payments mid-activity"),
    Fault(
        "partition worker-payments | temporal",
        "the payments worker's packets to every Temporal frontend dropped (iptables on lo,"
        " by its cgroup) while its charges run, then healed",
        "its polls and completions hang; the charges it held time out (start-to-close) and are"
        " retried, by it after the heal or by nobody else meanwhile; one charge each (the"
        " provider's idempotency key); all CONFIRMED",
    ),
    Fault(
        "partition relays | kafka",
        "both relays' (leader and standby) packets to the three brokers dropped, then healed",
        "orders go on (Kafka is off the saga's path); events wait in the outbox; after the heal"
        " every event on Kafka, none applied twice",
    ),
    Fault(
        "partition api | postgres",
        "the API's packets to PostgreSQL dropped, then healed; the workers still reach it",
        "POSTs time out or get 503 while cut and are resent with the same Idempotency-Key;"
        " sagas already started go on; every key gives one order, all CONFIRMED",
    ),
    Fault(
        "partition temporal node1 | node2",
        "each node's packets to the other's gRPC and membership ports dropped (ringpop and"
        " history<->matching cut); clients and PostgreSQL still reach both; then healed",
        "each node suspects the other and claims its shards, fenced by the shard's range id"
        " in PostgreSQL, so no task runs twice; calls fail and are retried meanwhile; the ring"
        " heals; all CONFIRMED, one charge each",
    ),
    Fault(
        "partition worker-inventory | postgres",
        "the inventory worker's packets to PostgreSQL dropped while its reservations run, then"
        " healed (the orders worker holds only sagas and never opens the database)",
        "its reservations hang or fail and are retried after the heal; no stock reserved"
        " twice; all CONFIRMED, one charge each",
    ),
    Fault(
        "slow link workers | temporal",
        "200 ms of latency (a Toxiproxy latency toxic) on every reply from Temporal to the"
        " workers for the outage; the SDK's timeouts stay as configured",
        "all CONFIRMED, slower; no timeout fires",
    ),
)

# The quick production run inside `make test`: a node kill, the database crash under the
# cluster, every partition and the slow link.
PRODUCTION_QUICK = frozenset(
    {
        "kill-9 temporal node1 (the frontend in use)",
        "postgres immediate stop",
        "partition worker-payments | temporal",
        "partition relays | kafka",
        "partition api | postgres",
        "partition temporal node1 | node2",
        "partition worker-inventory | postgres",
        "slow link workers | temporal",
    }
)
