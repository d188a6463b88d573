"""The e2e harness: the app with its lifespan and the production workers, per test.

Each test gets its own database and its own task queues, and drives the app in-process
through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import create_app
from config.settings import (
    AuthSettings,
    DatabaseSettings,
    PaymentSettings,
    SagaSettings,
    Settings,
    TemporalSettings,
)
from devstack.certificates import LoopbackCertificate
from devstack.process import free_port
from devstack.tokens import mint_token
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from persistence.database import create_engine, session_factory
from persistence.seed import CatalogItem, seed_catalog
from workers.runner import build_workers

CATALOG = (
    CatalogItem("sku-beans", "Espresso beans", Decimal("24.90"), 100, 0, 0),
    CatalogItem("sku-mug", "Ceramic mug", Decimal("12.00"), 100, 0, 0),
    CatalogItem("sku-dollar-mug", "Mug sold in dollars", Decimal("9.00"), 100, 0, 0, "USD"),
)
WAIT_SECONDS = 30.0
TERMINAL = {"CONFIRMED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"}


def e2e_settings(
    pg_url: str,
    temporal: TemporalSettings,
    gateway_latency_ms: int = 0,
    saga: SagaSettings | None = None,
    payments: PaymentSettings | None = None,
    *,
    auth: AuthSettings | None = None,
) -> Settings:
    """Settings for one test: its own database, and task queues no other test polls;
    ``auth`` to trust an identity provider (Keycloak) instead of the dev secret."""
    prefix = f"e2e-{uuid.uuid4().hex[:12]}-"
    return Settings(
        environment="test",
        auth=auth or AuthSettings(),
        database=DatabaseSettings(url=pg_url, pool_size=5, max_overflow=5),
        temporal=temporal.model_copy(update={"task_queue_prefix": prefix}),
        payments=payments or PaymentSettings(gateway_latency_ms=gateway_latency_ms),
        saga=saga or SagaSettings(),
    )


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    # The payment provider the payments worker charges through.
    gateway: SimulatedPaymentGateway
    # Where tokens come from when the API trusts an identity provider: (subject, role) to
    # an access token. None: minted with the dev secret.
    tokens: Callable[[str, str], str] | None = None

    def auth(self, subject: str, role: str = "customer") -> dict[str, str]:
        if self.tokens is not None:
            token = self.tokens(subject, role)
        else:
            token = mint_token(self.settings.auth, subject, role, email=f"{subject}@example.com")
        return {"Authorization": f"Bearer {token}"}

    async def place(
        self, subject: str, token: str = "tok_visa", key: str | None = None, **body: Any
    ) -> httpx.Response:
        payload = {
            "items": [{"product_id": "sku-beans", "quantity": 2}],
            "payment": {"method": "card", "token": token},
            **body,
        }
        headers = self.auth(subject) | ({"Idempotency-Key": key} if key else {})
        return await self.http.post("/orders", json=payload, headers=headers)

    async def wait_for(self, order_id: str, subject: str, statuses: set[str]) -> dict[str, Any]:
        """Poll GET /orders/{id} until the order reaches one of ``statuses``."""
        order: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT_SECONDS):
                while order.get("status") not in statuses:
                    response = await self.http.get(
                        f"/orders/{order_id}", headers=self.auth(subject)
                    )
                    assert response.status_code == 200, response.text
                    order = response.json()
                    await asyncio.sleep(0.1)
        assert order.get("status") in statuses, order
        return order


@asynccontextmanager
async def running_api(
    pg_url: str,
    temporal: TemporalSettings,
    client: Client,
    gateway_latency_ms: int = 0,
    *,
    activities: bool = True,
    saga: SagaSettings | None = None,
    payments: PaymentSettings | None = None,
    auth: AuthSettings | None = None,
    tokens: Callable[[str, str], str] | None = None,
) -> AsyncIterator[Api]:
    """The app (lifespan started) and the production workers (workers.runner), on task
    queues of this test's own. ``activities=False`` runs the workflow worker only: sagas
    then wait at their first step. ``payments`` with ``provider="stripe"``: the workers
    build the Stripe gateway from it (``Api.gateway`` is then unused). ``auth`` and
    ``tokens``: the API trusts that identity provider, and ``Api.auth`` asks ``tokens``."""
    settings = e2e_settings(pg_url, temporal, gateway_latency_ms, saga, payments, auth=auth)
    app = create_app(settings)
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    provider = SimulatedPaymentGateway(latency_seconds=gateway_latency_ms / 1000)
    try:
        await seed_catalog(sessions, CATALOG)
        names = list(queues.ALL) if activities else [queues.ORDERS]
        simulated = None if settings.payments.provider == "stripe" else provider
        workers = build_workers(names, client, engine, settings, payment_gateway=simulated)
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
            )
            yield Api(http, app, settings, sessions, provider, tokens)
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> AsyncIterator[Api]:
    async with running_api(pg_url, temporal_settings, temporal_client) as running:
        yield running


@contextlib.asynccontextmanager
async def serve_http(api: Api, tls: LoopbackCertificate | None = None) -> AsyncIterator[str]:
    """The app on a real port of its own (its lifespan already runs), for the CLI and curl;
    over HTTPS with ``tls``."""
    port = free_port()
    config = uvicorn.Config(
        api.app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ssl_certfile=tls.cert if tls else None,
        ssl_keyfile=tls.key if tls else None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.05)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
