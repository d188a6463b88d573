"""The production processes' view of a failing cluster: the app (its lifespan connects and
follows frontends) and the workers (with their own frontend follower), driven over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from api import create_app
from clients.temporal import connect_temporal
from clients.temporal_failover import FrontendFailover
from config.settings import TemporalSettings
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from persistence.database import create_engine, session_factory
from persistence.seed import seed_catalog
from tests.e2e.harness import CATALOG, TERMINAL, Api, e2e_settings
from workers.runner import build_workers, use_client

DECLINE_EVERY = 5
POST_ATTEMPTS = 30


@dataclass
class Figures:
    """What a fault run measured; printed and quoted in docs/production.md."""

    placed: int = 0
    retried_posts: int = 0
    accepted: int = 0
    terminal: int = 0
    confirmed: int = 0
    double_charges: int = 0
    missing_charges: int = 0
    recovery_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)

    def line(self, what: str) -> str:
        return (
            f"{what}: {self.placed} orders placed, {self.accepted} accepted "
            f"({self.retried_posts} POSTs answered 503 and sent again), "
            f"{self.terminal} terminal ({self.statuses}), {self.double_charges} double charges, "
            f"{self.missing_charges} confirmed without a charge, "
            f"recovered in {self.recovery_seconds:.1f} s"
        )


@asynccontextmanager
async def production_processes(
    pg_url: str, temporal: TemporalSettings, gateway_latency_ms: int = 0
) -> AsyncIterator[Api]:
    settings = e2e_settings(pg_url, temporal, gateway_latency_ms)
    app = create_app(settings)
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    provider = SimulatedPaymentGateway(latency_seconds=gateway_latency_ms / 1000)
    client = await connect_temporal(settings.temporal)
    try:
        await seed_catalog(sessions, CATALOG)
        workers = build_workers(queues.ALL, client, engine, settings, payment_gateway=provider)
        follower = FrontendFailover(settings.temporal, client, lambda c: use_client(workers, c))
        following = asyncio.create_task(follower.run())
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=180
                )
            )
            yield Api(http, app, settings, sessions, provider)
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
    finally:
        await engine.dispose()


async def place_orders(
    api: Api, count: int, fault_after: int, fault: Callable[[], Any]
) -> tuple[list[str], float, int]:
    """POST ``count`` orders, a few at a time; run ``fault`` once ``fault_after`` were
    accepted. Returns the accepted order ids, when the fault happened and how many POSTs
    were answered 503 (and sent again)."""
    accepted: list[str] = []
    refused: list[int] = []
    faulted_at = 0.0
    pending: set[asyncio.Task[httpx.Response]] = set()

    async def one(i: int) -> httpx.Response:
        """One order, as a careful client places it: a 503 is retried with the same
        Idempotency-Key, so the order is placed once however often it is sent."""
        token = "tok_chargeDeclined" if i % DECLINE_EVERY == 0 else "tok_visa"
        key = f"fault-{i}-{time.monotonic_ns()}"
        for _ in range(POST_ATTEMPTS):
            response = await api.place(
                f"fault-{i}",
                token=token,
                key=key,
                items=[{"product_id": "sku-beans", "quantity": 1}],
            )
            if response.status_code != 503:
                break
            refused.append(response.status_code)
            await asyncio.sleep(1.0)
        return response

    for i in range(count):
        pending.add(asyncio.create_task(one(i)))
        await asyncio.sleep(0.05)
        done = {t for t in pending if t.done()}
        pending -= done
        accepted += [r.json()["order_id"] for t in done if (r := t.result()).status_code == 202]
        if not faulted_at and len(accepted) >= fault_after:
            faulted_at = time.monotonic()
            await asyncio.to_thread(fault)
    for response in await asyncio.gather(*pending):
        if response.status_code == 202:
            accepted.append(response.json()["order_id"])
    if not faulted_at:
        faulted_at = time.monotonic()
        await asyncio.to_thread(fault)
    return accepted, faulted_at, len(refused)


async def settle(api: Api, order_ids: list[str], faulted_at: float, within: float) -> Figures:
    """Wait until every order is terminal (at most ``within`` seconds); count statuses and
    charges. Recovery: from the fault until the last order became terminal."""
    statuses: dict[str, str] = {}
    deadline = time.monotonic() + within
    last_terminal = faulted_at
    while time.monotonic() < deadline and len(statuses) < len(order_ids):
        for order_id in order_ids:
            if order_id in statuses:
                continue
            response = await api.http.get(f"/orders/{order_id}", headers=api.auth("ops", "support"))
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                statuses[order_id] = response.json()["status"]
                last_terminal = time.monotonic()
        await asyncio.sleep(0.5)
    figures = Figures(
        accepted=len(order_ids),
        terminal=len(statuses),
        recovery_seconds=last_terminal - faulted_at,
    )
    for order_id, status in statuses.items():
        figures.statuses[status] = figures.statuses.get(status, 0) + 1
        charges = api.gateway.charge_count(f"order-{order_id}")
        if charges > 1:
            figures.double_charges += 1
        if status == "CONFIRMED":
            figures.confirmed += 1
            if charges != 1:
                figures.missing_charges += 1
    return figures
