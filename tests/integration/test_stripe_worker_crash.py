"""The payments worker process killed after Stripe charged and before the charge was
recorded, with the Stripe adapter (real ``python -m workers`` processes, the Stripe
double over HTTP): still one charge, also when the retry comes after Stripe forgot the
idempotency keys. See test_worker_crash.py for the simulated provider's version."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from devstack.stripe_double import StripeDouble
from devstack.temporal import TemporalDevServer
from tests.fixtures.stripe import TEST_SECRET_KEY
from tests.integration.saga_data import Sessions, add_product, event_types, snapshot
from tests.integration.test_worker_crash import (
    ORDERS_GROUP,
    PAYMENTS_GROUP,
    Workers,
    assert_reserved_once,
    outcome,
    payment_rows,
    start_saga,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DAY_AND_AN_HOUR = 25 * 3600


@pytest.fixture
def slow_double() -> Iterator[StripeDouble]:
    """3 s a round trip: 1.5 s to reach Stripe, 1.5 s for the answer to come back."""
    with StripeDouble() as double:
        double.state.latency_seconds = 3.0
        yield double


@pytest.fixture
def stripe_workers(
    pg_url: str,
    temporal_server: TemporalDevServer,
    slow_double: StripeDouble,
    tmp_path: Path,
) -> Iterator[Callable[[], Workers]]:
    prefix = f"crash-stripe-{uuid.uuid4().hex[:8]}-"
    # Stripe is the provider: the simulated provider's URL is never called.
    env = worker_env(pg_url, temporal_server, prefix, "") | {
        "ORDERS_PAYMENTS__PROVIDER": "stripe",
        "ORDERS_PAYMENTS__STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "ORDERS_PAYMENTS__STRIPE_API_BASE": slow_double.base_url,
        "ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET": "whsec_test_crash",
    }
    crews: list[Workers] = []

    def make() -> Workers:
        crews.append(Workers(env, tmp_path / "logs", prefix))
        return crews[-1]

    yield make
    for crew in crews:
        crew.stop_all()


async def test_payments_worker_killed_after_stripe_charged_charges_once(
    temporal_client: Client,
    pg_sessions: Sessions,
    stripe_workers: Callable[[], Workers],
    slow_double: StripeDouble,
) -> None:
    """SIGKILL while Stripe's answer to the confirm is on its way back: charged at Stripe,
    recorded nowhere but in the intent log. A day later (Stripe's keys forgotten) a fresh
    worker runs the retry: it continues the logged intent. One intent, one charge, one
    payment row, the saga CONFIRMED."""
    await add_product(pg_sessions, "sku-stripe-crash", 10, price="12.50")
    order = snapshot(("sku-stripe-crash", 2), price="12.50", token="pm_card_visa")
    workers = stripe_workers()
    workers.start(*ORDERS_GROUP)
    payments = workers.start(*PAYMENTS_GROUP)

    handle = await start_saga(temporal_client, order, workers)

    async def charged() -> bool:
        return slow_double.state.ledger.charges > 0

    await wait_for(charged, workers, "Stripe charging the order")
    workers.kill(payments)
    assert await payment_rows(pg_sessions, order.order_id) == []
    slow_double.state.clock.advance(DAY_AND_AN_HOUR)
    workers.start(*PAYMENTS_GROUP)

    result = await outcome(handle, workers)

    assert result.status == "CONFIRMED", result.reason
    assert slow_double.state.ledger.charges == 1
    [intent] = slow_double.state.ledger.intents.values()
    rows = await payment_rows(pg_sessions, order.order_id)
    assert [(row.status, row.amount, row.gateway_reference) for row in rows] == [
        ("CAPTURED", order.total, intent["id"])
    ]
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentProcessed") == 1
    await assert_reserved_once(pg_sessions, order)
