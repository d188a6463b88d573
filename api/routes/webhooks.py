"""``POST /webhooks/stripe``: Stripe's payment events for the sagas waiting on them.

No bearer token: Stripe authenticates each delivery by its ``Stripe-Signature``, checked
against ``ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.problems import ProblemError, problem_responses
from api.services.stripe_webhooks import InvalidWebhookError, handle_stripe_event, verify

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookReceipt(BaseModel):
    """What became of the event: ``signalled``, ``duplicate`` or ``ignored``."""

    event_id: str
    outcome: str


@router.post(
    "/stripe",
    summary="Receive a Stripe event",
    description="Called by Stripe, signed with the endpoint's secret. Payment outcomes of "
    "orders waiting for the customer (3-D Secure) are passed to their sagas, each event "
    "once; a repeated delivery answers 200 and changes nothing.",
    responses=problem_responses(400, 404, 503),
)
async def stripe_webhook(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    temporal: TemporalDep,
    signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookReceipt:
    secret = settings.payments.stripe_webhook_secret.get_secret_value()
    if not secret:
        # Payments go through another provider: for this deployment the endpoint is absent.
        raise ProblemError(
            404,
            "Stripe webhooks are not enabled here (ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET).",
            slug="not-configured",
        )
    try:
        event = verify(await request.body(), signature, secret)
    except InvalidWebhookError as exc:
        raise ProblemError(400, str(exc), slug="invalid-signature") from exc
    result = await handle_stripe_event(session, temporal, event)
    return WebhookReceipt(event_id=result.event_id, outcome=result.outcome)
