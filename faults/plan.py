"""The faults and what each must lead to, written down before anything runs.

A run compares what happened with ``expected``: every accepted order reaches a state in
``settles_in`` (anything else is an unexpected terminal state, anything not settled is
stuck), and the invariants hold for every fault alike: no lost order, no charge without an
order, no double charge, no lost event, no event applied twice by the dedup consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

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
