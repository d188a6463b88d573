"""Events as INSERT statements a caller sends together with its other writes
(persistence/batch.py), so a state change and its events go to the database in one round
trip. The rows are those :func:`persistence.event_store.event_row` describes.

PostgreSQL numbers each event's version inside the statement (the aggregate's last
committed version + its offset in the batch); SQLite, which must also number positions,
has them counted from what it reads first (its ``BEGIN IMMEDIATE`` keeps other writers out).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import CTE, Insert, Integer, func, insert
from sqlalchemy import select as sa_select
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.bound import Bound, bind_name, param
from persistence.event_store import Pending, current_versions, describe, event_row, last_position
from persistence.tables import EventRow

__all__ = ["event_values", "events_inserts", "insert_per_row"]

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
    values = event_row(pending, *describe(pending.event))
    return {bind_name("e_", name): value for name, value in values.items()}


async def events_inserts(session: AsyncSession, pending: Sequence[Pending]) -> list[Bound]:
    """An INSERT per ``pending`` event, for the caller to run with its other writes:
    each aggregate's versions follow its last committed one in the order given. One
    statement per row, not one multi-row VALUES: SQLAlchemy cannot cache the compiled form
    of the latter, and compiling costs more than the statement.

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
        row = event_row(entry, aggregate_type, aggregate_id, schema_version)
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
