"""The maintenance switch: while it is on, new orders are refused with 503 and Retry-After;
orders already placed go on, and the probes stay ready (a pod out of the Service would
never show clients the 503 that tells them when to come back).

The switch is a row every API process reads (persistence/maintenance.py), so an operator
sets it once for every replica; each process trusts what it read for
``ORDERS_API__MAINTENANCE_CHECK_SECONDS``. ``ORDERS_API__MAINTENANCE=true`` holds it on
whatever the row says, for a deployment that wants the door shut from its values.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import MaintenanceForcedError, MaintenanceOnError
from api.maintenance_schemas import MaintenancePublic, MaintenanceUpdate
from api.metrics import show_maintenance_switch
from config.api import ApiSettings
from persistence import maintenance
from persistence.maintenance import SwitchRecord
from persistence.tables import utc_now

SETTING = "ORDERS_API__MAINTENANCE"
log = logging.getLogger(__name__)


class MaintenanceSwitch:
    """One API process's view of the switch."""

    def __init__(self, settings: ApiSettings) -> None:
        self._held = settings.maintenance
        self._retry_after = settings.maintenance_retry_after_seconds
        self._ttl = settings.maintenance_check_seconds
        self._known: tuple[float, MaintenancePublic] | None = None

    async def state(self, session: AsyncSession) -> MaintenancePublic:
        known = self._known
        if known is not None and known[0] > time.monotonic():
            return known[1]
        return self._remember(await maintenance.load(session))

    async def refuse_new_orders(self, session: AsyncSession) -> None:
        state = await self.state(session)
        if state.active:
            reason = state.reason or "the service is under maintenance"
            raise MaintenanceOnError(reason, state.retry_after_seconds)

    async def change(
        self, session: AsyncSession, update: MaintenanceUpdate, actor: str
    ) -> MaintenancePublic:
        if self._held and not update.active:
            raise MaintenanceForcedError(SETTING)
        record = SwitchRecord(
            active=update.active,
            reason=update.reason or "",
            retry_after_seconds=update.retry_after_seconds or self._retry_after,
            changed_by=actor,
            changed_at=utc_now(),
        )
        await maintenance.save(session, record)
        await session.commit()
        log.warning(
            "maintenance switched %s by %s: %s",
            "on" if record.active else "off",
            actor,
            record.reason or "-",
        )
        return self._remember(record)

    async def watch(
        self, sessions: async_sessionmaker[AsyncSession], interval_seconds: float
    ) -> None:
        """Reads the switch every ``interval_seconds`` until cancelled, so the metric says
        what it is also in a process that takes no orders."""
        while True:
            try:
                async with sessions() as session:
                    self._remember(await maintenance.load(session))
            except Exception:  # a failed read is retried next round; it must not stop the API
                log.exception("reading the maintenance switch failed")
            await asyncio.sleep(interval_seconds)

    def _remember(self, record: SwitchRecord | None) -> MaintenancePublic:
        state = self._public(record)
        self._known = (time.monotonic() + self._ttl, state)
        show_maintenance_switch(on=state.active)
        return state

    def _public(self, record: SwitchRecord | None) -> MaintenancePublic:
        if record is None:
            return MaintenancePublic(
                active=self._held,
                reason="the service is under maintenance" if self._held else None,
                retry_after_seconds=self._retry_after,
                held_by_setting=self._held,
            )
        return MaintenancePublic(
            active=record.active or self._held,
            reason=record.reason or ("the service is under maintenance" if self._held else None),
            retry_after_seconds=record.retry_after_seconds,
            held_by_setting=self._held,
            changed_by=record.changed_by,
            changed_at=record.changed_at,
        )
