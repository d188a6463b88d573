"""The Core twin of :func:`persistence.event_store.append_events`: events as INSERT
statements a caller sends together with its other writes (persistence/batch.py), so a
state change and its events go to the database in one round trip.

PostgreSQL numbers each event's version inside the statement (the aggregate's last
committed version + its offset in the batch); SQLite, which must also number positions,
has them counted from what it reads first (its ``BEGIN IMMEDIATE`` keeps other writers out).
"""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import CTE, Insert, Integer, func, insert
from sqlalchemy import select as sa_select
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.actor import SYSTEM, Actor
from persistence.bound import Bound, bind_name, param
from persistence.event_store import (
    actor_document,
    current_versions,
    describe,
    event_payload,
    last_position,
)
from persistence.tables import EventRow
from telemetry.tracing import current_traceparent

__all__ = ["Pending", "event_values", "events_inserts", "insert_per_row"]

_EVENTS = EventRow.__table__  # type: ignore[attr-defined]  # SQLModel declares it untyped


_ROW_PARAMS = (
    "event_id",
    "event_type",
    "aggregate_type",
    "aggregate_id",
    "event_data",
    "schema_version",
    "occurred_at",
    "traceparent",
    "actor",
)


@functools.cache
def _insert_numbered(prefix: str) -> Insert:
    """An event whose version is the aggregate's last committed one + ``offset``,
    computed by the database (PostgreSQL)."""
    last = select(func.coalesce(func.max(_EVENTS.c.version), 0)).where(
        _EVENTS.c.aggregate_id == param(prefix, "aggregate_id")
    )
    values = {name: param(prefix, name) for name in _ROW_PARAMS}
    return insert(_EVENTS).values(
        **values, version=last.scalar_subquery() + param(prefix, "offset", Integer())
    )


@functools.cache
def _insert_counted(prefix: str) -> Insert:
    """An event whose version and position were counted by the caller (SQLite)."""
    names = (*_ROW_PARAMS, "version", "position")
    return insert(_EVENTS).values({name: param(prefix, name) for name in names})


def insert_per_row(source: CTE) -> Insert:
    """A statement appending one event per row of ``source`` (none when it is empty), the
    version numbered by the database: for a write whose event must exist only if its
    conditional UPDATE matched. Its parameters are those of :func:`event_values`."""
    columns = _EVENTS.c
    last = sa_select(func.coalesce(func.max(columns.version), 0)).where(
        columns.aggregate_id == param("e_", "aggregate_id", columns.aggregate_id.type)
    )
    row = [param("e_", name, columns[name].type) for name in _ROW_PARAMS]
    version = last.scalar_subquery() + 1
    return insert(_EVENTS).from_select(
        [*_ROW_PARAMS, "version"], sa_select(*row, version).select_from(source)
    )


def event_values(pending: Pending) -> dict[str, object]:
    """The parameters of :func:`insert_per_row` for ``pending`` (its aggregate's only
    event in the statement)."""
    aggregate_type, aggregate_id, schema_version = describe(pending.event)
    values = _row(pending, aggregate_type, aggregate_id, schema_version)
    return {bind_name("e_", name): value for name, value in values.items()}


def _row(
    entry: Pending, aggregate_type: str, aggregate_id: str, schema_version: int
) -> dict[str, object]:
    if entry.occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    return {
        "event_id": uuid.uuid4(),
        "event_type": type(entry.event).__name__,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "event_data": event_payload(entry.event),
        "schema_version": schema_version,
        "occurred_at": entry.occurred_at,
        "traceparent": entry.traceparent or current_traceparent(),
        "actor": actor_document(entry.actor),
    }


@dataclasses.dataclass(frozen=True)
class Pending:
    """An event to append, with its envelope's time, actor and trace."""

    event: object
    occurred_at: datetime
    actor: Actor = SYSTEM
    traceparent: str | None = None


async def events_inserts(session: AsyncSession, pending: Sequence[Pending]) -> list[Bound]:
    """An INSERT per ``pending`` event, for the caller to run with its other writes: the
    Core twin of :func:`append_events`, same rows, same numbers. One statement per row,
    not one multi-row VALUES: SQLAlchemy cannot cache the compiled form of the latter, and
    compiling costs more than the statement.

    PostgreSQL numbers versions inside the statement (last committed + 1, 2, ...), so
    building it reads nothing; SQLite, which must also number positions, reads both first
    (its ``BEGIN IMMEDIATE`` keeps any other writer out until commit).
    """
    if not pending:
        return []
    described = [(entry, *describe(entry.event)) for entry in pending]
    sqlite = session.get_bind().dialect.name == "sqlite"
    aggregate_ids = list(dict.fromkeys(aggregate_id for _, _, aggregate_id, _ in described))
    versions = await current_versions(session, aggregate_ids) if sqlite else {}
    position = await last_position(session) if sqlite else 0
    offsets: dict[str, int] = {}
    inserts: list[Bound] = []
    for entry, aggregate_type, aggregate_id, schema_version in described:
        row = _row(entry, aggregate_type, aggregate_id, schema_version)
        offsets[aggregate_id] = offsets.get(aggregate_id, 0) + 1
        if sqlite:
            position += 1
            row["version"] = versions.get(aggregate_id, 0) + offsets[aggregate_id]
            row["position"] = position
            inserts.append(Bound(_insert_counted, row))
        else:
            row["offset"] = offsets[aggregate_id]
            inserts.append(Bound(_insert_numbered, row))
    return inserts
