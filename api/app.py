"""The FastAPI application: ``create_app(settings)``; its lifespan owns the connections.

The Temporal client and the database engine are built when the app starts (in the event
loop that serves it) and the engine is disposed when it stops. Nothing connects at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from temporalio.client import Client

from api.access_log import AccessLog
from api.auth import TokenVerifier
from api.codec_server import codec_app
from api.deps import Resources
from api.error_problems import install_error_mapping
from api.metrics import instrument_http, sample_orders_needing_attention
from api.middleware import BodySizeLimit
from api.problems import install_problem_handlers, problem_schemas
from api.query import reject_unknown_query_parameters
from api.routes import health, maintenance, orders, products, webhooks
from api.services.catalog import CatalogCache
from api.services.idempotency import purge_expired
from api.services.maintenance import MaintenanceSwitch
from clients.temporal import connect_temporal
from clients.temporal_failover import FrontendFailover
from config.settings import Settings, load_settings
from messages.queues import TaskQueues
from persistence.database import create_engine, session_factory
from telemetry.setup import API_SERVICE, announce_demo_allowance, configure_telemetry

log = logging.getLogger(__name__)

FIRST_CONNECT_WAIT_SECONDS = 5.0
# Expired Idempotency-Keys are deleted this often; every replica may do it (a plain DELETE).
PURGE_INTERVAL_SECONDS = 900.0
MAX_RECONNECT_DELAY_SECONDS = 10.0
TITLE = "Order saga API"
VERSION = "1.0.0"
PROBE_URLS = "/healthz,/readyz"
DESCRIPTION = """Submit, read, list, cancel and retry orders; each order is a durable saga on
Temporal.

Authenticate with a bearer JWT. Its roles (Keycloak's `realm_access.roles`, the API
client's `resource_access` roles, or `roles`) decide what it may do: `customer` its own
orders, `support` reads every order, `operator` also cancels, retries and refunds,
`catalog-admin` manages products. Every error is an
RFC 9457 problem document (`application/problem+json`). Send an `Idempotency-Key` with
`POST /orders` to make retries safe.
"""
TAGS = [
    {"name": "orders", "description": "Orders and their sagas."},
    {"name": "products", "description": "The catalog and its stock."},
    {"name": "maintenance", "description": "The switch that pauses new orders."},
    {"name": "health", "description": "Probes for the platform."},
    {"name": "webhooks", "description": "Events from the payment provider (signed by it)."},
]


async def _connect_temporal(resources: Resources) -> None:
    """Connect, retrying with backoff: the API serves (and reports not ready) meanwhile."""
    delay = 0.5
    while resources.temporal is None:
        try:
            resources.temporal = await connect_temporal(resources.settings.temporal)
        except Exception as exc:  # the bridge raises RuntimeError for any connection failure
            log.warning(
                "Temporal at %s unreachable (%s); retrying in %.1fs",
                resources.settings.temporal.address,
                exc,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RECONNECT_DELAY_SECONDS)


async def _follow_frontends(resources: Resources, connecting: asyncio.Task[None]) -> None:
    """Once connected, move to another frontend of the list when ours stops answering."""
    await asyncio.shield(connecting)
    assert resources.temporal is not None

    def use(client: Client) -> None:
        resources.temporal = client

    await FrontendFailover(resources.settings.temporal, resources.temporal, use).run()


def _lifespan(resources: Resources) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(resources.settings.database)
        resources.engine = engine
        sessions = resources.sessions = session_factory(engine)
        connecting = asyncio.create_task(_connect_temporal(resources))
        purging = asyncio.create_task(_purge_keys_periodically(resources))
        following = asyncio.create_task(_follow_frontends(resources, connecting))
        sampling = asyncio.create_task(
            sample_orders_needing_attention(
                sessions, resources.settings.telemetry.sample_interval_seconds
            )
        )
        watching = asyncio.create_task(
            resources.maintenance.watch(
                sessions, resources.settings.telemetry.sample_interval_seconds
            )
        )
        # Usually connected at once; if not, order routes answer 503 until it is.
        await asyncio.wait([connecting], timeout=FIRST_CONNECT_WAIT_SECONDS)
        try:
            yield
        finally:
            for task in (connecting, purging, following, sampling, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            resources.sessions = None
            resources.engine = None
            resources.temporal = None
            await engine.dispose()

    return lifespan


async def _purge_keys_periodically(resources: Resources) -> None:
    while True:
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
        if resources.sessions is None:
            continue
        try:
            async with resources.sessions() as session:
                purged = await purge_expired(session)
            log.info("purged %d expired idempotency keys", purged)
        except Exception:  # a failed purge is retried next round; it must not stop the API
            log.exception("purging expired idempotency keys failed")


def create_app(settings: Settings, *, queues: TaskQueues | None = None) -> FastAPI:
    """The API for ``settings``. Sagas run on the task queues named by
    ``settings.temporal.task_queue_prefix`` (as the workers' are), unless ``queues`` says."""
    resources = Resources(
        settings=settings,
        queues=queues or TaskQueues.with_prefix(settings.temporal.task_queue_prefix),
        verifier=TokenVerifier(settings.auth),
        catalog=CatalogCache(settings.api.catalog_cache_seconds),
        maintenance=MaintenanceSwitch(settings.api),
    )
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=_lifespan(resources),
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    app.state.resources = resources
    install_problem_handlers(app)
    install_error_mapping(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    instrument_http(app)
    # Added last, so it runs first: its line also covers requests refused for their size.
    app.add_middleware(AccessLog)
    # Probes would be most of the spans and say nothing about orders; a span per ASGI
    # message (receive/send) is noise beside the request's own.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=PROBE_URLS, exclude_spans=["receive", "send"]
    )
    for module in (orders, products, maintenance, health, webhooks):
        app.include_router(module.router)
    if settings.api.serve_codec:
        # Dev's one process; deployments serve it apart (`python -m api.codec`, api/codec.py).
        app.mount("/codec", codec_app(settings, resources))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def _openapi_document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    # The limits are configuration, so the document states this deployment's values.
    order = schemas.get("OrderCreate", {}).get("properties", {})
    if "items" in order:
        order["items"]["maxItems"] = settings.api.max_items_per_order
    item = schemas.get("OrderItemCreate", {}).get("properties", {})
    if "quantity" in item:
        item["quantity"]["maximum"] = settings.api.max_quantity_per_item
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
    return document


def _not_null(parameter: dict[str, Any]) -> None:
    """An optional query parameter or header is absent or a string, never JSON null:
    ``X | None = None`` in Python means "may be left out", which the document says with
    ``required: false``. (A null alternative would also invite clients and fuzzers to send
    values that have no form on the wire.)"""
    schema = parameter.get("schema", {})
    alternatives = schema.get("anyOf")
    if parameter.get("required") or not isinstance(alternatives, list):
        return
    kept = [alt for alt in alternatives if alt != {"type": "null"}]
    if len(kept) == 1 and len(kept) < len(alternatives):
        del schema["anyOf"]
        schema.update(kept[0])


def app_from_environment() -> FastAPI:
    """Zero-argument factory for ``uvicorn --factory`` (each worker process calls it)."""
    settings = load_settings()
    # Several processes cannot share one metrics port: each worker writes its samples to
    # the multiprocess folder and `python -m api` serves their sum (telemetry/metrics.py).
    telemetry = settings.telemetry.model_copy(update={"metrics_port": 0})
    configure_telemetry(telemetry, service_name=API_SERVICE)
    announce_demo_allowance(settings)
    return create_app(settings)
