"""The payment-intent log in the database: the IntentLog of the Stripe adapter.

Each write commits at once, in a session of its own, before the adapter confirms the
intent: a process killed between the two leaves the id behind for the next attempt.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.tables import PaymentIntentRow

__all__ = ["SqlIntentLog"]


class SqlIntentLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def intent_for(self, idempotency_key: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(PaymentIntentRow, idempotency_key)
        return None if row is None else row.intent_id

    async def remember(self, idempotency_key: str, intent_id: str) -> None:
        """Record the intent; recording the same one twice (a racing attempt got the same
        intent back from the provider by its key) is no error, another one is."""
        try:
            async with self._sessions() as session, session.begin():
                session.add(PaymentIntentRow(idempotency_key=idempotency_key, intent_id=intent_id))
        except IntegrityError:
            known = await self.intent_for(idempotency_key)
            if known != intent_id:
                raise
