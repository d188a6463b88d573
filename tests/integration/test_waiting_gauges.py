"""The API's gauges of orders waiting for an operator follow the orders table."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func
from sqlmodel import col, select

from api.metrics import sample_waiting_orders
from persistence.tables import OrderRow
from tests.integration.saga_data import Sessions

pytestmark = pytest.mark.integration


async def _count(sessions: Sessions, status: str) -> int:
    async with sessions() as session:
        statement = select(func.count()).where(col(OrderRow.status) == status)
        return int((await session.exec(statement)).one())


async def test_orders_in_review_and_needing_attention_are_counted_apart(
    pg_sessions: Sessions,
) -> None:
    now = datetime.now(UTC)
    async with pg_sessions() as session, session.begin():
        for status in ("IN_REVIEW", "IN_REVIEW", "NEEDS_ATTENTION", "RESERVED"):
            session.add(
                OrderRow(
                    id=str(uuid.uuid4()),
                    customer_id="gauge-customer",
                    status=status,
                    total_amount=Decimal("1.00"),
                    currency="EUR",
                    payment_method="card",
                    created_at=now,
                    updated_at=now,
                )
            )
    sampling = asyncio.create_task(sample_waiting_orders(pg_sessions, 60))
    await asyncio.sleep(1)
    sampling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampling

    in_review = REGISTRY.get_sample_value("orders_in_review")
    attention = REGISTRY.get_sample_value("orders_needing_attention")
    assert in_review == await _count(pg_sessions, "IN_REVIEW")
    assert attention == await _count(pg_sessions, "NEEDS_ATTENTION")
    assert in_review is not None
    assert in_review >= 2
