"""The maintenance switch as stored: read it, set it (one row, written whole)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.tables import MaintenanceSwitchRow

__all__ = ["SwitchRecord", "load", "save"]

_TABLE = MaintenanceSwitchRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped


@dataclass(frozen=True)
class SwitchRecord:
    active: bool
    reason: str
    retry_after_seconds: int
    changed_by: str
    changed_at: datetime


async def load(session: AsyncSession) -> SwitchRecord | None:
    """The switch as last set, or ``None`` if nobody ever set it (off)."""
    row = (await session.exec(select(MaintenanceSwitchRow))).first()
    if row is None:
        return None
    return SwitchRecord(
        row.active, row.reason, row.retry_after_seconds, row.changed_by, row.changed_at
    )


async def save(session: AsyncSession, record: SwitchRecord) -> None:
    """Sets the switch in one statement (insert or overwrite row 1), so two operators
    setting it at once leave one of their records whole. The caller commits."""
    values = {
        "id": 1,
        "active": record.active,
        "reason": record.reason,
        "retry_after_seconds": record.retry_after_seconds,
        "changed_by": record.changed_by,
        "changed_at": record.changed_at,
    }
    statement = _insert(session.get_bind().dialect.name).values(**values)
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.id],
            set_={name: value for name, value in values.items() if name != "id"},
        )
    )


def _insert(dialect_name: str) -> Any:
    if dialect_name == "sqlite":
        return sqlite.insert(_TABLE)
    return postgresql.insert(_TABLE)
