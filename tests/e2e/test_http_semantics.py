"""HTTP semantics the API keeps on every path, whatever the route: a 405 lists in ``Allow``
every method the path serves, an unknown query parameter is a 422, counts are strict.

Routing and request validation happen before any database or Temporal call, so the app
here runs without its lifespan (nothing to connect to).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from pydantic import ValidationError

from api import create_app
from api.problems import PROBLEM_MEDIA_TYPE
from api.schemas import OrderItemCreate, StockUpdate
from config.settings import Settings


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(Settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def _allow(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/products", {"GET", "POST"}),
        ("DELETE", "/orders", {"GET", "POST"}),
        ("PATCH", "/orders/0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42", {"GET"}),
        ("GET", "/orders/0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42/cancel", {"POST"}),
        ("DELETE", "/products/sku-beans/stock", {"PUT"}),
    ],
)
async def test_405_allow_lists_every_method_the_path_serves(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    """Not only the methods of the first route that matched the path (Starlette's default)."""
    response = await client.request(method, path)
    assert response.status_code == 405
    assert _allow(response) == allowed
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["status"] == 405


async def test_405_allow_matches_the_openapi_document(client: httpx.AsyncClient) -> None:
    """For every documented path, ``Allow`` names exactly its documented methods."""
    document = (await client.get("/openapi.json")).json()
    for template, operations in document["paths"].items():
        path = template.replace("{order_id}", "0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42").replace(
            "{product_id}", "sku-beans"
        )
        documented = {method.upper() for method in operations}
        response = await client.request("TRACE", path)
        assert response.status_code == 405, path
        assert _allow(response) == documented, path


async def test_unknown_query_parameter_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    """A typo such as ``limt`` is refused instead of silently ignored."""
    response = await client.get("/healthz", params={"limt": "5"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    [error] = response.json()["errors"]
    assert error["loc"] == ["query", "limt"]
    assert error["type"] == "extra_forbidden"


async def test_declared_query_parameters_are_accepted(client: httpx.AsyncClient) -> None:
    """The check knows each route's own parameters: ``limit`` passes it (and auth answers)."""
    response = await client.get("/products", params={"limit": "5"})
    assert response.status_code == 401


@pytest.mark.parametrize("value", ["true", '"5"', "5.5"])
def test_counts_in_requests_are_strict_integers(value: str) -> None:
    """JSON ``true`` or ``"5"`` is not a count (pydantic's lax mode would take both)."""
    with pytest.raises(ValidationError):
        StockUpdate.model_validate_json(f'{{"reorder_quantity": {value}}}')
    with pytest.raises(ValidationError):
        OrderItemCreate.model_validate_json(f'{{"product_id": "sku-beans", "quantity": {value}}}')
