"""What the API counts: orders placed, HTTP requests, and orders an operator must look at.

The metrics are ``prometheus_client`` objects, so under ``python -m api --workers N`` they
are written to the multiprocess folder and summed by the supervising process (see
``telemetry/metrics.py``). Defining them at import registers them only; nothing connects.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.order_status import OrderStatus
from persistence.tables import OrderRow

__all__ = [
    "count_order_placed",
    "instrument_http",
    "sample_orders_needing_attention",
    "show_maintenance_switch",
]

log = logging.getLogger(__name__)

ORDERS_PLACED = Counter(
    "orders_placed",
    "Orders accepted by POST /orders whose saga was started (not idempotent replays).",
)
ORDERS_NEEDING_ATTENTION = Gauge(
    "orders_needing_attention",
    "Orders in the read model waiting for an operator (status NEEDS_ATTENTION).",
    # Every API process samples the same table: report the latest sample, not their sum.
    multiprocess_mode="mostrecent",
)

MAINTENANCE_SWITCH = Gauge(
    "orders_maintenance_switch",
    "1 while the maintenance switch is on (POST /orders answers 503), else 0.",
    multiprocess_mode="mostrecent",
)


def count_order_placed() -> None:
    ORDERS_PLACED.inc()


def show_maintenance_switch(*, on: bool) -> None:
    MAINTENANCE_SWITCH.set(1 if on else 0)


def instrument_http(app: FastAPI) -> None:
    """Request count, latency and sizes per route template, method and status class
    (``http_requests_total``, ``http_request_duration_seconds`` …); probes excluded."""
    Instrumentator(excluded_handlers=["/healthz", "/readyz"]).instrument(app)


async def sample_orders_needing_attention(
    sessions: async_sessionmaker[AsyncSession], interval_seconds: float
) -> None:
    """Refresh the gauge every ``interval_seconds`` until cancelled.

    Sampled by the app rather than at scrape time: the scrape is answered from a thread
    (or, with several workers, another process) where the async engine cannot run.
    """
    while True:
        try:
            async with sessions() as session:
                statement = (
                    select(func.count())
                    .select_from(OrderRow)
                    .where(col(OrderRow.status) == OrderStatus.NEEDS_ATTENTION.value)
                )
                count = (await session.exec(statement)).one()
            ORDERS_NEEDING_ATTENTION.set(count)
        except Exception:  # a failed sample is retried next round; it must not stop the API
            log.exception("sampling orders needing attention failed")
        await asyncio.sleep(interval_seconds)
