"""The runbook's Web UI pictures, taken through the real sign-in, and what each page said.

One flow for ``python -m tools.screenshots`` (pictures for docs/img) and for the test that
checks it (tests/e2e/test_web_ui_login.py): a confirmed order, then an order parked in
NEEDS_ATTENTION by a provider outage; the list of parked orders and the parked order's page
as an operator (its input decoded by the codec endpoint), the same page as support staff (no
operator role: ciphertext only), the UI's signal dialog sending ``retry`` as the operator,
and the order CONFIRMED afterwards.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from messages.queues import order_workflow_id
from tools.screenshots.browser import Person, shoot

# What the list shows of an order: its search attributes, as the UI has no Summary column.
LIST_COLUMNS = ("OrderStatus", "OrderTotal", "CustomerId")
# A product of the catalog every stack seeds (persistence/seed.py's DEV_CATALOG).
ORDER = {
    "items": [{"product_id": "sku-ceramic-mug", "quantity": 2}],
    "payment": {"method": "card", "token": "tok_visa"},
}


@dataclass(frozen=True)
class WebUIStage:
    """A running stack to picture: the UI, the API as one customer, the provider's switch."""

    ui_url: str
    namespace: str
    customer: httpx.AsyncClient  # the API, with the customer's bearer token
    provider_outage: Callable[[bool], object]  # on or off
    operator: Person
    support: Person
    # Whose orders these are: the decoded input shows it to operators only.
    customer_email: str
    # The codec endpoint's certificate, when it is self-signed (see browser.shoot).
    codec_spki: str | None = None


@dataclass(frozen=True)
class Seen:
    """The parked order and the text of the pages that matter to the checks."""

    order_id: str
    details_as_operator: str
    details_as_support: str
    after_retry: str


async def wait_status(http: httpx.AsyncClient, order_id: str, status: str) -> None:
    order: dict[str, object] = {}
    for _ in range(300):
        order = (await http.get(f"/orders/{order_id}")).json()
        if order.get("status") == status:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"order {order_id} never reached {status}: {order}")


async def place(http: httpx.AsyncClient) -> str:
    placed = await http.post("/orders", json=ORDER)
    if placed.status_code != 202:
        raise RuntimeError(f"order refused: {placed.status_code} {placed.text}")
    order_id: str = placed.json()["order_id"]
    return order_id


async def take_pictures(stage: WebUIStage, out: Path) -> Seen:
    http = stage.customer
    await wait_status(http, await place(http), "CONFIRMED")
    stage.provider_outage(True)
    try:
        parked = await place(http)
        await wait_status(http, parked, "NEEDS_ATTENTION")
    finally:
        stage.provider_outage(False)
    await asyncio.sleep(2)  # visibility catches up with the search attributes
    workflows = f"{stage.ui_url}/namespaces/{stage.namespace}/workflows"
    query = urllib.parse.quote('OrderStatus="NEEDS_ATTENTION"')
    operator, support = stage.operator, stage.support

    async def step(kind: str, url: str, picture: str, *args: str, who: Person) -> str:
        return await shoot(
            kind, url, out / f"{picture}.png", *args, person=who, trust_spki=stage.codec_spki
        )

    listing = f"{workflows}?query={query}"
    await step("list", listing, "needs-attention-list", parked[:8], *LIST_COLUMNS, who=operator)
    page = f"{workflows}/{order_workflow_id(parked)}"
    email = stage.customer_email
    as_operator = await step("page", page, "needs-attention-details", email, who=operator)
    # Support's page shows the order, its input undecodable: wait for the order alone.
    as_support = await step("page", page, "needs-attention-support", parked[:8], who=support)
    retry = f'{{"operator": "{operator.username}", "note": "provider back"}}'
    await step("signal", page, "retry-signal-dialog", "retry", retry, who=operator)
    await wait_status(http, parked, "CONFIRMED")
    after = await step("page", page, "retried-confirmed", "CONFIRMED", who=operator)
    print(f"order {parked} retried from the UI and CONFIRMED; pictures in {out}", flush=True)
    return Seen(parked, as_operator, as_support, after)
