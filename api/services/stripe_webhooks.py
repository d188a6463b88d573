"""Stripe's webhook events turned into the saga's payment signals, each event once.

Stripe signs every delivery (``Stripe-Signature``) and delivers at least once, retrying for
days on any non-2xx answer. So: verify with the SDK; claim the event id (``evt_…``) in the
inbox, in the transaction that commits only once the signal is sent -- a second delivery
finds the claim and changes nothing; a signal that cannot be sent (Temporal down) rolls
the claim back and answers 503, and Stripe delivers again later. The saga also ignores a
second outcome with the same ``provider_event_id`` (a crash between signal and commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.services.workflows import temporal_errors
from gateways.stripe_requests import ORDER_ID_KEY
from messages.queues import order_workflow_id
from messages.saga import PaymentOutcome
from messages.sdk_private import signal_name
from outbox.consumer import claim
from workflows.order_saga import OrderSaga

__all__ = [
    "CONSUMER",
    "PAYMENT_FAILED_SIGNAL",
    "PAYMENT_SUCCEEDED_SIGNAL",
    "InvalidWebhookError",
    "WebhookResult",
    "handle_stripe_event",
    "verify",
]

log = logging.getLogger(__name__)

CONSUMER = "stripe-webhook"  # the inbox's consumer column for these events
# The saga's signal handlers; their names come from the workflow's definition.
PAYMENT_SUCCEEDED_SIGNAL: Callable[[OrderSaga, PaymentOutcome], None] = OrderSaga.payment_succeeded
PAYMENT_FAILED_SIGNAL: Callable[[OrderSaga, PaymentOutcome], None] = OrderSaga.payment_failed
# Stripe's event type -> the saga's signal. ``amount_capturable_updated``: an authorisation
# (authorize-then-capture flow) is the success of a payment that waited for the customer.
SIGNALS = {
    "payment_intent.succeeded": PAYMENT_SUCCEEDED_SIGNAL,
    "payment_intent.amount_capturable_updated": PAYMENT_SUCCEEDED_SIGNAL,
    "payment_intent.payment_failed": PAYMENT_FAILED_SIGNAL,
}


class InvalidWebhookError(Exception):
    """Not signed with our endpoint's secret, too old, or not an event at all."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    outcome: str  # "signalled", "duplicate", "ignored"
    signal: str | None = None
    order_id: str | None = None


def verify(payload: bytes, signature: str | None, secret: str) -> stripe.Event:
    try:
        event: stripe.Event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhookError(f"bad Stripe-Signature: {exc.user_message}") from exc
    except ValueError as exc:
        raise InvalidWebhookError(f"not a Stripe event: {exc}") from exc
    return event


def _outcome(event: stripe.Event, intent: dict[str, Any]) -> PaymentOutcome:
    error = intent.get("last_payment_error") or {}
    return PaymentOutcome(
        provider_event_id=event.id,
        reference=str(intent.get("id", "")),
        decline_code=error.get("decline_code") or error.get("code"),
        reason=error.get("message"),
    )


async def handle_stripe_event(
    session: AsyncSession, temporal: Client, event: stripe.Event
) -> WebhookResult:
    signal = SIGNALS.get(event.type)
    intent: dict[str, Any] = event.data.object.to_dict() if signal else {}
    order_id = (intent.get("metadata") or {}).get(ORDER_ID_KEY)
    if signal is None or not order_id:
        # Another event type, or an intent this service did not make: nothing to do.
        return WebhookResult(event.id, "ignored")
    name = signal_name(signal)
    async with session.begin():
        if not await claim(session, CONSUMER, event.id):
            return WebhookResult(event.id, "duplicate", name, order_id)
        handle = temporal.get_workflow_handle(order_workflow_id(order_id))
        try:
            with temporal_errors():
                await handle.signal(signal, _outcome(event, intent))
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # The saga is gone (finished long ago, or never started): no retry can help.
            log.warning("Stripe event %s for order %s: no running saga", event.id, order_id)
            return WebhookResult(event.id, "ignored", name, order_id)
    log.info("Stripe event %s: %s sent to order %s", event.id, name, order_id)
    return WebhookResult(event.id, "signalled", name, order_id)
