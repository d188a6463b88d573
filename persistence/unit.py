"""The transactions the activities work in: opened here, so that an activity speaks to the
database only through the repositories of persistence/ (Core statements, one batch)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["Conflict", "Session", "Sessions", "reading", "transaction"]

# A write that met a unique key: another attempt recorded the same thing first.
Conflict = IntegrityError

# What the repositories take: the session only lends them its connection (``batch.run``).
Session = AsyncSession
Sessions = async_sessionmaker[AsyncSession]


def transaction(sessions: Sessions) -> AbstractAsyncContextManager[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    return sessions.begin()


def reading(sessions: Sessions) -> AbstractAsyncContextManager[Session]:
    """Reads outside any write: what a step looks up before calling out."""
    return sessions()
