"""Property-based: every operation of the OpenAPI document, fed generated valid and
invalid input, never answers 5xx and always answers what the document declares.

Runs against a real PostgreSQL and a real Temporal (POST /orders starts sagas on task
queues of this test's own, which no worker polls: only the API is under test here).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine
from sqlmodel import Session

from api import create_app
from config.settings import TemporalSettings
from messages.queues import TaskQueues
from persistence.tables import InventoryRow, ProductRow
from tests.e2e.test_orders_api import CATALOG, e2e_settings
from tools.token import mint_token

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def _seed(pg_url: str) -> None:
    """The catalog the document's examples name, so valid orders reach Temporal."""
    engine = create_engine(pg_url)
    try:
        with Session(engine) as session:
            for item in CATALOG:
                session.add(
                    ProductRow(
                        id=item.sku,
                        name=item.name,
                        unit_price=item.unit_price,
                        currency=item.currency,
                    )
                )
                session.flush()
                session.add(InventoryRow(product_id=item.sku, quantity=item.stock))
            example = ProductRow(
                id="sku-espresso-beans", name="Beans", unit_price=item.unit_price, currency="EUR"
            )
            session.add(example)
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def admin_headers(pg_url: str, temporal_settings: TemporalSettings) -> dict[str, str]:
    auth = e2e_settings(pg_url, temporal_settings).auth
    token = mint_token(auth, "fuzz-admin", auth.admin_role, email="fuzz-admin@example.com")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_schema(pg_url: str, temporal_settings: TemporalSettings) -> Iterator[Any]:
    _seed(pg_url)
    app = create_app(
        e2e_settings(pg_url, temporal_settings),
        queues=TaskQueues.with_prefix(f"fuzz-{uuid.uuid4().hex[:12]}-"),
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    # Schemathesis keeps the app's lifespan running; stop it before the database is dropped.
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("api_schema")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@schema.parametrize()
def test_every_operation_answers_as_documented_and_never_5xx(
    case: Any, admin_headers: dict[str, str]
) -> None:
    """No input makes the API fail (5xx); every answer matches its documented status,
    media type and schema (problem details for errors)."""
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
