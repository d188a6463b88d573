"""Domain events as rows of the ``events`` table -- the event store and the outbox at once.

A domain event is a frozen dataclass with class attributes ``aggregate_type`` and
``schema_version`` and an ``aggregate_id`` property; its type is its class name. Events are
appended in the caller's transaction, next to the state change they describe
(``persistence.batch.Batch.add_events``), and the caller commits both together: an event
exists if and only if its change does. This module describes their rows and reads them.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.actor import SYSTEM, Actor
from persistence.tables import EventRow
from telemetry.tracing import current_traceparent


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_payload(event: object) -> dict[str, Any]:
    """The event's fields as JSON values: Decimal -> "12.50", datetime -> ISO-8601,
    tuples -> lists (exactly what is stored and what consumers receive)."""
    if not dataclasses.is_dataclass(event) or isinstance(event, type):
        raise TypeError(f"a domain event must be a dataclass instance, not {event!r}")
    payload: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(event), default=_encode))
    return payload


def describe(event: object) -> tuple[str, str, int]:
    """(aggregate_type, aggregate_id, schema_version) of a domain event."""
    aggregate_type = getattr(event, "aggregate_type", None)
    aggregate_id = getattr(event, "aggregate_id", None)
    schema_version = getattr(event, "schema_version", None)
    if (
        not isinstance(aggregate_type, str)
        or not isinstance(aggregate_id, str)
        or not isinstance(schema_version, int)
    ):
        raise TypeError(
            f"{type(event).__name__} is not a domain event: it needs aggregate_type: str, "
            "aggregate_id: str and schema_version: int"
        )
    return aggregate_type, aggregate_id, schema_version


async def current_versions(session: AsyncSession, aggregate_ids: list[str]) -> dict[str, int]:
    statement = (
        select(col(EventRow.aggregate_id), func.max(EventRow.version))
        .where(col(EventRow.aggregate_id).in_(aggregate_ids))
        .group_by(col(EventRow.aggregate_id))
    )
    rows = await session.exec(statement)
    return {aggregate_id: int(version) for aggregate_id, version in rows.all()}


async def last_position(session: AsyncSession) -> int:
    last = (await session.exec(select(func.max(EventRow.position)))).one()
    return int(last or 0)


@dataclasses.dataclass(frozen=True)
class Pending:
    """An event to append, with its envelope's time, actor and trace."""

    event: object
    occurred_at: datetime
    actor: Actor = SYSTEM
    traceparent: str | None = None


def event_row(
    entry: Pending, aggregate_type: str, aggregate_id: str, schema_version: int
) -> dict[str, Any]:
    """The columns of ``entry``'s row but its version and position, which the writer
    (``persistence.event_inserts``) numbers: the one description of an event row.

    ``traceparent`` defaults to the active span's (the activity's, the API request's), so
    the relay publishes each event inside the trace of the request that caused it."""
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


def actor_document(actor: Actor) -> dict[str, Any]:
    """How the ``actor`` column stores an actor (the role only when there is one)."""
    document: dict[str, Any] = {"kind": actor.kind, "subject": actor.subject}
    if actor.role is not None:
        document["role"] = actor.role
    return document


def actor_of(row: EventRow) -> Actor | None:
    """The actor an events row recorded; None for rows appended before it was recorded."""
    if row.actor is None:
        return None
    return Actor(kind=row.actor["kind"], subject=row.actor["subject"], role=row.actor.get("role"))


async def load_timeline(session: AsyncSession, aggregate_id: str) -> list[EventRow]:
    """All events of one aggregate, oldest first (by version)."""
    statement = (
        select(EventRow)
        .where(col(EventRow.aggregate_id) == aggregate_id)
        .order_by(col(EventRow.version))
    )
    return list((await session.exec(statement)).all())
