"""The writes of one transaction, sent together: one round trip on PostgreSQL.

Repositories add their INSERTs and UPDATEs (SQLAlchemy Core, no ORM objects) to a Batch;
``send`` runs them. On PostgreSQL they become one statement of data-modifying CTEs: its
parts run on one snapshot, so no part may read what another writes (each row is written
once per batch, event versions are computed from the rows committed before it), and
foreign keys between parts hold because PostgreSQL checks them at the end of the
statement. SQLite has no data-modifying CTEs: it runs the parts one by one, in order.

Hot writes are added as :class:`~persistence.bound.Bound` templates and values: the CTE
of a batch made only of them is itself built once per sequence of templates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Executable, Select, func, literal_column, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.actor import SYSTEM, Actor
from persistence.bound import Bound, Template, Write, param
from persistence.event_inserts import events_inserts
from persistence.event_store import Pending

__all__ = ["Batch", "Bound", "Template", "is_postgres", "param", "run"]


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def run(
    session: AsyncSession, statement: Executable, values: Mapping[str, object] | None = None
) -> CursorResult[Any]:
    """Run a Core statement on the session's transaction, past the ORM's machinery."""
    connection = await session.connection()
    return await connection.execute(statement, values)


# The CTE statement for each sequence of templates seen (a handful: one per step shape).
_COMPOSED: dict[tuple[Template, ...], Select[Any]] = {}


def _compose(writes: Sequence[Write]) -> Select[Any]:
    parts = [
        write.returning(literal_column("1")).cte(f"write_{index}")
        for index, write in enumerate(writes)
    ]
    # Each part is referenced, or SQLAlchemy would leave it out of the statement.
    counts = [select(func.count()).select_from(part).scalar_subquery() for part in parts]
    return select(*counts)


def _composed(templates: tuple[Template, ...]) -> Select[Any]:
    statement = _COMPOSED.get(templates)
    if statement is None:
        statement = _compose([template(_prefix(index)) for index, template in enumerate(templates)])
        _COMPOSED[templates] = statement
    return statement


def _prefix(index: int) -> str:
    return f"w{index}_"


class Batch:
    """Writes collected in order; nothing is sent before ``send``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._writes: list[Write | Bound] = []
        self._events: list[Pending] = []

    def add(self, *writes: Write | Bound) -> None:
        self._writes.extend(writes)

    def add_events(
        self,
        events: Sequence[object],
        occurred_at: datetime,
        *,
        actor: Actor = SYSTEM,
        traceparent: str | None = None,
    ) -> None:
        """Append ``events`` (see persistence.event_store) after every other write; each
        aggregate's versions are numbered in the order its events were added.

        ``actor`` is who caused them, by default the system (a decision of the service
        itself): callers acting for a person or an operator say so. ``traceparent``
        defaults to the active span's when the batch is sent.

        Two transactions appending to one aggregate at once cannot both commit:
        UNIQUE(aggregate_id, version) refuses the later one (``persistence.unit.Conflict``),
        and its retry numbers after the first."""
        self._events.extend(Pending(event, occurred_at, actor, traceparent) for event in events)

    async def send(self) -> None:
        writes = [*self._writes, *await events_inserts(self.session, self._events)]
        self._writes, self._events = [], []
        if len(writes) > 1 and is_postgres(self.session):
            values: dict[str, object] = {}
            for index, write in enumerate(writes):
                if isinstance(write, Bound):
                    values.update(write.parameters(_prefix(index)))
            if all(isinstance(write, Bound) for write in writes):
                templates = tuple(write.template for write in writes if isinstance(write, Bound))
                await run(self.session, _composed(templates), values)
            else:
                built = [
                    write.template(_prefix(index)) if isinstance(write, Bound) else write
                    for index, write in enumerate(writes)
                ]
                await run(self.session, _compose(built), values)
            return
        for write in writes:
            if isinstance(write, Bound):
                await run(self.session, write.template(""), write.parameters(""))
            else:
                await run(self.session, write)
