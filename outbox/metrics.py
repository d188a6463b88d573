"""The relay's metrics, through the OpenTelemetry API (Prometheus via ``configure_telemetry``).

Gauges are observed at scrape time from a thread of the exporter, where no database query
can run; the relay samples the table on its own schedule and the callbacks read the last
sample. The age is computed at observation time from the head's ``occurred_at``, so it keeps
growing between samples as a stuck queue's age should.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from outbox.lag import OutboxLag, age_seconds


class RelayMetrics:
    def __init__(self, meter: Meter | None = None) -> None:
        meter = meter or metrics.get_meter("outbox.relay")
        self._count = 0
        self._oldest: datetime | None = None
        self.leader = False
        self._published = meter.create_counter(
            "outbox_published_total",
            unit="{event}",
            description="Events the broker acknowledged and the relay marked published.",
        )
        meter.create_observable_gauge(
            "outbox_unpublished_events",
            callbacks=[self._observe_count],
            unit="{event}",
            description="Events in the outbox not yet published to Kafka.",
        )
        meter.create_observable_gauge(
            "outbox_oldest_unpublished_age_seconds",
            callbacks=[self._observe_age],
            unit="s",
            description="Age of the event at the head of the outbox queue; 0 when empty.",
        )
        meter.create_observable_gauge(
            "outbox_relay_leader",
            callbacks=[self._observe_leader],
            description="1 while this relay holds the publishing lease, else 0.",
        )

    def sampled(self, count: int, oldest_occurred_at: datetime | None) -> None:
        self._count = count
        self._oldest = oldest_occurred_at if count else None

    def published(self, topic: str, count: int) -> None:
        self._published.add(count, {"topic": topic})

    @property
    def lag(self) -> OutboxLag:
        return OutboxLag(self._count, age_seconds(self._oldest))

    def _observe_count(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(self._count)]

    def _observe_age(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(age_seconds(self._oldest))]

    def _observe_leader(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(1 if self.leader else 0)]
