"""Property-based: every operation of the OpenAPI document, fed generated valid and
invalid input, never answers 5xx and always answers what the document declares, with all
of schemathesis's checks but one (see ``EXCLUDED``): status codes, media types, schemas,
headers, rejection of invalid input, 405 with a complete ``Allow``, auth.

Runs against a real PostgreSQL and a real Temporal (POST /orders starts sagas on task
queues of this test's own, which no worker polls: only the API is under test here).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import create_engine
from sqlmodel import Session
from starlette.types import Receive, Scope, Send

from api import create_app
from config.settings import Settings, TemporalSettings
from devstack.tokens import mint_token
from persistence.seed import CatalogItem
from persistence.tables import InventoryRow, ProductRow
from tests.e2e.harness import CATALOG, e2e_settings

load_all_checks()
# Every check schemathesis has but one: `positive_data_acceptance` expects any input the
# schema allows to succeed (2xx), while 422 for an unknown product or an undecodable cursor
# is a business answer about data the schema cannot express (the catalog, our own cursors).
EXCLUDED = (positive_data_acceptance,)
ALL_CHECKS = [check for check in CHECKS.get_all() if check not in EXCLUDED]


# The test catalog plus the product the document's examples name, so that generated
# orders built from the examples are valid and reach Temporal.
FUZZ_CATALOG = (*CATALOG, CatalogItem("sku-espresso-beans", "Beans", Decimal("24.90"), 50, 0, 0))


def _seed(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with Session(engine) as session:
            for item in FUZZ_CATALOG:
                session.add(
                    ProductRow(
                        id=item.sku,
                        name=item.name,
                        unit_price=item.unit_price,
                        currency=item.currency,
                    )
                )
                session.flush()  # products first: inventory refers to them
                session.add(InventoryRow(product_id=item.sku, quantity=item.stock))
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture
def staff_headers(pg_url: str, temporal_settings: TemporalSettings) -> dict[str, str]:
    auth = e2e_settings(pg_url, temporal_settings).auth
    # No one role reaches every endpoint (least privilege): the fuzzer holds the two that do.
    roles = [auth.operator_role, auth.catalog_admin_role]
    token = mint_token(auth, "fuzz-staff", roles, email="fuzz-staff@example.com")
    return {"Authorization": f"Bearer {token}"}


class AppUnderTest:
    """The ASGI app schemathesis calls; each test aims it at an app on its own database.

    The document is loaded once, at import, while each test needs the fixtures' database:
    the lifespan (its connections) runs for the app this points at when schemathesis
    starts it, and is shut down after the test.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the app_under_test fixture sets the app"
        await self.app(scope, receive, send)


APP = AppUnderTest()
# Building an app connects nothing; its document is what every deployment serves.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
schema.app = APP


@pytest.fixture
def app_under_test(pg_url: str, temporal_settings: TemporalSettings) -> Iterator[None]:
    _seed(pg_url)
    # The settings' own task queue prefix: no worker polls it, only the API is under test.
    APP.app = create_app(e2e_settings(pg_url, temporal_settings))
    try:
        yield
    finally:
        # Schemathesis keeps a started lifespan running: stop it before the database goes.
        shutdown_lifespans()
        APP.app = None


@settings(
    max_examples=30,
    deadline=None,
    # One database per operation, shared by its generated inputs, on purpose.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
@schema.parametrize()
def test_every_operation_answers_as_documented_and_never_5xx(
    case: Any, app_under_test: None, staff_headers: dict[str, str]
) -> None:
    """No input makes the API fail (5xx); every answer matches its documented status,
    media type and schema (problem details for errors)."""
    case.call_and_validate(headers=staff_headers, checks=ALL_CHECKS)
