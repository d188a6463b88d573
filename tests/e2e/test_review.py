"""Spend limits end to end: the API, the production workers, real PostgreSQL and the
Temporal dev server. An order over a limit waits IN_REVIEW with its reasons; an operator's
``POST /orders/{id}/review`` approves it (on to the charge and CONFIRMED) or rejects it
(REJECTED with the reason the customer reads). The CLI's signal path is the runbook's
(docs/operations.md, tests/e2e/test_runbook.py)."""

from __future__ import annotations

from decimal import Decimal

from temporalio.client import Client

from config.settings import TemporalSettings
from persistence.event_store import actor_of, load_timeline
from tests.e2e.harness import FAR_LIMITS, TERMINAL, Api, running_api

# Five bags of beans (124.50) are over this; two (49.80) are not.
LIMITS = FAR_LIMITS.model_copy(update={"max_order_amount": Decimal("100")})
LARGE = [{"product_id": "sku-beans", "quantity": 5}]


async def _timeline(api: Api, order_id: str) -> list[tuple[str, str | None]]:
    """(event type, who: the actor's kind, or a user's subject), oldest first."""
    async with api.sessions() as session:
        events = await load_timeline(session, order_id)
    found = []
    for event in events:
        actor = actor_of(event)
        who = None if actor is None else actor.subject if actor.kind == "user" else actor.kind
        found.append((event.event_type, who))
    return found


async def test_an_order_over_the_limit_waits_for_review_and_an_operator_decides(
    pg_url: str, temporal_settings: TemporalSettings, temporal_client: Client
) -> None:
    async with running_api(pg_url, temporal_settings, temporal_client, risk=LIMITS) as api:
        olga = api.auth("olga", role="operator")
        small = (await api.place("rita")).json()["order_id"]
        approved_id = (await api.place("rita", items=LARGE)).json()["order_id"]
        rejected_id = (await api.place("rita", items=LARGE)).json()["order_id"]
        waiting = await api.wait_for(approved_id, "rita", {"IN_REVIEW"})
        await api.wait_for(rejected_id, "rita", {"IN_REVIEW"})
        by_customer = await api.http.post(
            f"/orders/{approved_id}/review", json={"approve": True}, headers=api.auth("rita")
        )
        approve = await api.http.post(
            f"/orders/{approved_id}/review",
            json={"approve": True, "note": "known customer"},
            headers=olga,
        )
        reject = await api.http.post(
            f"/orders/{rejected_id}/review",
            json={"approve": False, "note": "card reported stolen"},
            headers=olga,
        )
        approved = await api.wait_for(approved_id, "rita", TERMINAL)
        rejected = await api.wait_for(rejected_id, "rita", TERMINAL)
        again = await api.http.post(
            f"/orders/{approved_id}/review", json={"approve": False}, headers=olga
        )
        plain = await api.wait_for(small, "rita", TERMINAL)
        approved_events = await _timeline(api, approved_id)
        rejected_events = await _timeline(api, rejected_id)

    assert waiting["review_reasons"] == ["order amount 124.50 over the limit of 100"]
    assert by_customer.status_code == 403
    assert approve.status_code == 202, approve.text
    assert reject.status_code == 202, reject.text
    assert approved["status"] == "CONFIRMED"
    assert rejected["status"] == "REJECTED"
    assert rejected["failure_reason"] == "rejected in review: card reported stolen"
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/review-refused"
    assert plain["status"] == "CONFIRMED"
    assert ("OrderHeldForReview", "system") in approved_events
    assert ("OrderReviewApproved", "olga") in approved_events
    assert [e for e, _ in approved_events].count("PaymentProcessed") == 1
    assert ("OrderRejected", "olga") in rejected_events
    assert "PaymentProcessed" not in [e for e, _ in rejected_events]
    assert "InventoryReleased" in [e for e, _ in rejected_events]
