"""``Idempotency-Key`` claims in the ``idempotency_keys`` table, one per (customer, key).

A request claims its key by inserting an IN_PROGRESS row; the primary key makes a
concurrent duplicate collide instead of placing a second order. The row carries the order
id from the start, so a retry after a crash between claim and workflow start resumes the
same order (and the workflow id, derived from it, cannot start twice). ``created_at``
doubles as the claim time: a takeover refreshes it, and a claim older than
:data:`ABANDONED_AFTER` is taken to belong to a request that died.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import KeyInFlightError, KeyReusedError
from persistence.tables import (
    IDEMPOTENCY_COMPLETED,
    IDEMPOTENCY_IN_PROGRESS,
    IdempotencyKeyRow,
    utc_now,
)

ABANDONED_AFTER = timedelta(seconds=30)
_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    order_id: str
    # True: the key already completed, answer with its order and place nothing.
    replay: bool


def request_hash(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, session: AsyncSession, ttl: timedelta) -> None:
        self._session = session
        self._ttl = ttl

    async def claim(self, customer_id: str, key: str, digest: str, order_id: str) -> Claim:
        """Claim ``key`` for a new order ``order_id``, or say what the key already did."""
        for _ in range(_ATTEMPTS):
            now = utc_now()
            if await self._insert(customer_id, key, digest, order_id, now):
                return Claim(order_id, replay=False)
            row = await self._load(customer_id, key)
            if row is None:
                continue  # purged between our insert and read: try again
            if row.expires_at <= now:
                if await self._renew_expired(row, digest, order_id, now):
                    return Claim(order_id, replay=False)
                continue
            if row.request_hash != digest:
                raise KeyReusedError(key)
            resumed = row.order_id or order_id
            if row.status == IDEMPOTENCY_COMPLETED:
                return Claim(resumed, replay=True)
            waited = now - row.created_at
            if waited < ABANDONED_AFTER:
                raise KeyInFlightError(int((ABANDONED_AFTER - waited).total_seconds()) + 1)
            if await self._take_over(row, resumed, now):
                return Claim(resumed, replay=False)
            raise KeyInFlightError(int(ABANDONED_AFTER.total_seconds()))
        raise KeyInFlightError(1)

    async def complete(self, customer_id: str, key: str, response_status: int) -> None:
        await self._session.exec(
            update(IdempotencyKeyRow)
            .where(col(IdempotencyKeyRow.customer_id) == customer_id)
            .where(col(IdempotencyKeyRow.key) == key)
            .values(status=IDEMPOTENCY_COMPLETED, response_status=response_status)
        )
        await self._session.commit()

    async def abandon(self, customer_id: str, key: str) -> None:
        """Let the next retry take over at once (same order id) instead of waiting."""
        await self._session.rollback()
        await self._session.exec(
            update(IdempotencyKeyRow)
            .where(col(IdempotencyKeyRow.customer_id) == customer_id)
            .where(col(IdempotencyKeyRow.key) == key)
            .where(col(IdempotencyKeyRow.status) == IDEMPOTENCY_IN_PROGRESS)
            .values(created_at=utc_now() - ABANDONED_AFTER)
        )
        await self._session.commit()

    async def _insert(
        self, customer_id: str, key: str, digest: str, order_id: str, now: datetime
    ) -> bool:
        table: Any = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        statement = (
            insert.values(
                customer_id=customer_id,
                key=key,
                request_hash=digest,
                order_id=order_id,
                status=IDEMPOTENCY_IN_PROGRESS,
                created_at=now,
                expires_at=now + self._ttl,
            )
            .on_conflict_do_nothing(index_elements=[table.c.customer_id, table.c.key])
            .returning(table.c.key)
        )
        inserted = (await self._session.exec(statement)).first() is not None
        await self._session.commit()
        return inserted

    async def _load(self, customer_id: str, key: str) -> IdempotencyKeyRow | None:
        statement = (
            select(IdempotencyKeyRow)
            .where(col(IdempotencyKeyRow.customer_id) == customer_id)
            .where(col(IdempotencyKeyRow.key) == key)
            .execution_options(populate_existing=True)
        )
        row = (await self._session.exec(statement)).first()
        await self._session.commit()
        return row

    async def _renew_expired(
        self, row: IdempotencyKeyRow, digest: str, order_id: str, now: datetime
    ) -> bool:
        return await self._swap(
            row,
            request_hash=digest,
            order_id=order_id,
            status=IDEMPOTENCY_IN_PROGRESS,
            response_status=None,
            created_at=now,
            expires_at=now + self._ttl,
        )

    async def _take_over(self, row: IdempotencyKeyRow, order_id: str, now: datetime) -> bool:
        return await self._swap(row, order_id=order_id, created_at=now)

    async def _swap(self, row: IdempotencyKeyRow, **values: Any) -> bool:
        """Update ``row`` only if nobody changed it since we read it (compare-and-set)."""
        result = await self._session.exec(
            update(IdempotencyKeyRow)
            .where(col(IdempotencyKeyRow.customer_id) == row.customer_id)
            .where(col(IdempotencyKeyRow.key) == row.key)
            .where(col(IdempotencyKeyRow.status) == row.status)
            .where(col(IdempotencyKeyRow.created_at) == row.created_at)
            .where(col(IdempotencyKeyRow.expires_at) == row.expires_at)
            .values(**values)
        )
        await self._session.commit()
        return result.rowcount == 1


async def purge_expired(session: AsyncSession, now: datetime | None = None) -> int:
    """Deletes keys past their expiry (kept at least the configured TTL); returns how many."""
    result = await session.exec(
        delete(IdempotencyKeyRow).where(col(IdempotencyKeyRow.expires_at) <= (now or utc_now()))
    )
    await session.commit()
    return int(result.rowcount or 0)
