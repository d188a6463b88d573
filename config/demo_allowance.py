"""The demo allowance (``ORDERS_DEMO_ALLOWANCE=true``): the one list of demo parts that
production accepts when it is on.

``make dev ARGS=--production`` and the benchmark run the production topology with parts
no shop would run: the simulated payment provider, notices written to the log, one Kafka
broker. Production refuses each of them (config/checks.py) unless this allowance is on,
and every process says so at start (telemetry/setup.py). The checks, that log line, the
docs' table and the tests all read ``DEMO_ALLOWANCE`` below, so what it permits is
written once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEMO_ALLOWANCE",
    "FEW_KAFKA_REPLICAS",
    "LOG_NOTICES",
    "SIMULATED_PROVIDER",
    "DemoPart",
    "allowance_notice",
]

# The Kafka replication factor below which production calls a topic a demo's: with fewer
# copies a broker's loss loses acknowledged events (acks=all waits for in-sync replicas).
MIN_REPLICATION_FACTOR = 3


@dataclass(frozen=True)
class DemoPart:
    """One thing a demo may run in production: the setting that selects it, and in words."""

    setting: str
    what: str

    def __str__(self) -> str:
        return f"{self.what} ({self.setting})"


SIMULATED_PROVIDER = DemoPart(
    "ORDERS_PAYMENTS__PROVIDER=simulated", "the simulated payment provider"
)
LOG_NOTICES = DemoPart("ORDERS_NOTIFICATIONS__CHANNEL=log", "customer notices to the log only")
FEW_KAFKA_REPLICAS = DemoPart(
    f"ORDERS_KAFKA__REPLICATION_FACTOR<{MIN_REPLICATION_FACTOR}",
    f"Kafka topics with fewer than {MIN_REPLICATION_FACTOR} replicas",
)

# Exactly what the allowance permits; nothing else production refuses is on this list.
DEMO_ALLOWANCE: tuple[DemoPart, ...] = (SIMULATED_PROVIDER, LOG_NOTICES, FEW_KAFKA_REPLICAS)


def allowance_notice() -> str:
    """The line every process logs at start while the allowance is on."""
    parts = "; ".join(str(part) for part in DEMO_ALLOWANCE)
    return (
        f"ORDERS_DEMO_ALLOWANCE=true: production accepts these demo parts: {parts}. "
        "Nothing else is allowed; a real deployment leaves the allowance off."
    )
