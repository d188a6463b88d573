"""Readiness: can this process serve orders right now (database and Temporal reachable)?"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.errors import NotReadyError
from api.maintenance_schemas import MaintenancePublic
from api.schemas import OutboxLag, Readiness
from api.services.maintenance import MaintenanceSwitch
from outbox.lag import outbox_lag

CHECK_TIMEOUT_SECONDS = 3.0
log = logging.getLogger(__name__)


async def _database(
    sessions: async_sessionmaker[AsyncSession], switch: MaintenanceSwitch
) -> tuple[OutboxLag, MaintenancePublic]:
    async with sessions() as session:
        # The query proves the database and reports the relay's lag, measured the same
        # way as the relay's own metrics.
        lag = await outbox_lag(session)
        maintenance = await switch.state(session)
    outbox = OutboxLag(
        unpublished=lag.unpublished,
        oldest_age_seconds=lag.oldest_age_seconds if lag.unpublished else None,
    )
    return outbox, maintenance


async def _temporal(client: Client) -> None:
    healthy = await client.service_client.check_health(
        timeout=timedelta(seconds=CHECK_TIMEOUT_SECONDS)
    )
    if not healthy:
        raise ConnectionError("Temporal reports itself unhealthy")


async def readiness(
    sessions: async_sessionmaker[AsyncSession] | None,
    client: Client | None,
    switch: MaintenanceSwitch,
) -> Readiness:
    """Ready also while the maintenance switch is on: the body says so, the status does not,
    or the platform would take the pods out of the Service and clients would never see the
    503 that tells them when to come back."""
    checks: dict[str, str] = {"database": "down", "temporal": "down"}
    outbox = OutboxLag(unpublished=0)
    maintenance: MaintenancePublic | None = None
    if sessions is not None:
        try:
            outbox, maintenance = await asyncio.wait_for(
                _database(sessions, switch), CHECK_TIMEOUT_SECONDS
            )
            checks["database"] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            log.warning("readiness: database unavailable: %r", exc)
    if client is not None:
        try:
            await asyncio.wait_for(_temporal(client), CHECK_TIMEOUT_SECONDS + 1)
            checks["temporal"] = "ok"
        except Exception as exc:  # as above
            log.warning("readiness: Temporal unavailable: %r", exc)
    if maintenance is None or any(state != "ok" for state in checks.values()):
        raise NotReadyError(checks)
    return Readiness(checks=checks, outbox=outbox, maintenance=maintenance)
