"""The Stripe double's state: PaymentIntents, Refunds and Events with Stripe's semantics.

What it follows from Stripe's documentation, for the subset the adapter uses:
- the PaymentIntent state machine: ``requires_payment_method`` → (with a payment method)
  ``requires_confirmation`` → confirm → ``succeeded`` (automatic capture),
  ``requires_capture`` (manual), ``requires_action`` (3-D Secure), ``processing`` (the
  outcome comes later: ``settle``) or back to ``requires_payment_method`` with
  ``last_payment_error`` (declined); capture, cancel;
  every other move is ``payment_intent_unexpected_state``;
- test payment methods: ``pm_card_visa`` (and mastercard/amex) succeed,
  ``pm_card_chargeDeclined…`` decline with their decline codes,
  ``pm_card_threeDSecure2Required`` / ``pm_card_authenticationRequired`` need the
  customer's authentication;
- refunds of a succeeded intent, partial or full, never more than was received;
- an event per change (``payment_intent.succeeded``, ``…payment_failed``,
  ``…requires_action``, ``…amount_capturable_updated``, ``…canceled``,
  ``charge.refunded``), with the object as it was then.
Test cards are in :mod:`devstack.stripe_double.cards`, idempotency keys and the clock in
:mod:`devstack.stripe_double.idempotency`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from devstack.stripe_double.cards import (
    AUTHENTICATING,
    CANCELABLE,
    DECLINES,
    PROCESSING,
    StripeApiError,
    check_payment_method,
    invalid,
    next_action,
    positive_int,
    unexpected,
)

__all__ = ["Ledger", "StripeApiError", "invalid"]


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class Ledger:
    """One Stripe account's objects. Not thread-safe: the server serialises requests."""

    now: Any  # () -> int, the double's clock (seconds)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    charges: int = 0  # how many times money was actually taken or held

    # --- PaymentIntents -------------------------------------------------------------

    def create_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = positive_int(params.get("amount"), "amount")
        currency = params.get("currency")
        if not isinstance(currency, str) or len(currency) != 3:
            raise invalid("Missing required param: currency.", "parameter_missing", "currency")
        capture_method = params.get("capture_method", "automatic_async")
        if capture_method not in ("automatic", "automatic_async", "manual"):
            raise invalid("Invalid capture_method.", "parameter_invalid_string", "capture_method")
        payment_method = params.get("payment_method")
        if payment_method is not None:
            check_payment_method(payment_method)
        intent_id = _id("pi")
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "currency": currency.lower(),
            "capture_method": capture_method,
            "confirmation_method": "automatic",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "created": self.now(),
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "payment_method": payment_method,
            "status": "requires_confirmation" if payment_method else "requires_payment_method",
            "last_payment_error": None,
            "next_action": None,
            "latest_charge": None,
            "cancellation_reason": None,
            "return_url": params.get("return_url"),
        }
        self.intents[intent_id] = intent
        self._event("payment_intent.created", intent)
        if params.get("confirm") in (True, "true"):
            return self.confirm(intent_id, params, base_url=params.get("_base_url", ""))
        return intent

    def intent(self, intent_id: str) -> dict[str, Any]:
        found = self.intents.get(intent_id)
        if found is None:
            raise invalid(f"No such payment_intent: '{intent_id}'", "resource_missing", "intent")
        return found

    def confirm(self, intent_id: str, params: dict[str, Any], *, base_url: str) -> dict[str, Any]:
        intent = self.intent(intent_id)
        if params.get("payment_method"):
            check_payment_method(params["payment_method"])
            intent["payment_method"] = params["payment_method"]
        if params.get("return_url"):
            intent["return_url"] = params["return_url"]
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise unexpected(intent, "confirm")
        method = intent["payment_method"]
        if not method:
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                "payment_intent_unexpected_state",
            )
        if method in AUTHENTICATING:
            intent["status"] = "requires_action"
            intent["next_action"] = next_action(intent, base_url)
            self._event("payment_intent.requires_action", intent)
            return intent
        if method in PROCESSING:
            # A charge exists but its outcome is not known yet: no money held, none refused.
            intent.update(status="processing", latest_charge=_id("ch"))
            self._event("payment_intent.processing", intent)
            return intent
        decline = DECLINES.get(method)
        if decline is not None:
            code, decline_code, message = decline
            self._fail(intent, code, decline_code, message)
            raise StripeApiError(
                402,
                {
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                    "payment_intent": dict(intent),
                },
            )
        self._hold_or_take(intent)
        return intent

    def authenticate(self, intent_id: str, *, succeed: bool) -> dict[str, Any]:
        """The customer completes (or fails) 3-D Secure on the next action's page."""
        intent = self.intent(intent_id)
        if intent["status"] != "requires_action":
            raise unexpected(intent, "authenticate")
        intent["next_action"] = None
        if succeed:
            self._hold_or_take(intent)
        else:
            self._fail(
                intent,
                "payment_intent_authentication_failure",
                "authentication_required",
                "The customer failed to authenticate this payment.",
            )
        return intent

    def settle(self, intent_id: str, *, succeed: bool) -> dict[str, Any]:
        """A ``processing`` payment gets its outcome: taken (or held), or failed."""
        intent = self.intent(intent_id)
        if intent["status"] != "processing":
            raise unexpected(intent, "settle")
        if succeed:
            self._hold_or_take(intent)
        else:
            self._fail(intent, "card_declined", "generic_decline", "Your card was declined.")
        return intent

    def capture(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(intent_id)
        if intent["status"] != "requires_capture":
            raise unexpected(intent, "capture")
        wanted = params.get("amount_to_capture")
        received = intent["amount"] if wanted is None else positive_int(wanted, "amount")
        if received > intent["amount_capturable"]:
            raise invalid("amount_to_capture exceeds the capturable amount.", "amount_too_large")
        intent.update(status="succeeded", amount_capturable=0, amount_received=received)
        self._event("payment_intent.succeeded", intent)
        return intent

    def cancel(self, intent_id: str, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(intent_id)
        if intent["status"] not in CANCELABLE:
            raise unexpected(intent, "cancel")
        intent.update(
            status="canceled",
            amount_capturable=0,
            next_action=None,
            cancellation_reason=params.get("cancellation_reason", "requested_by_customer"),
        )
        self._event("payment_intent.canceled", intent)
        return intent

    # --- Refunds --------------------------------------------------------------------

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(str(params.get("payment_intent", "")))
        if intent["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                "charge_not_refundable",
            )
        refunded = sum(r["amount"] for r in self.refunds_of(intent["id"]))
        left = intent["amount_received"] - refunded
        if left <= 0:
            raise invalid(
                f"Charge {intent['latest_charge']} has already been refunded.",
                "charge_already_refunded",
            )
        amount = left if params.get("amount") is None else positive_int(params["amount"], "amount")
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount_too_large",
                "amount",
            )
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "charge": intent["latest_charge"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "created": self.now(),
            "metadata": dict(params.get("metadata") or {}),
        }
        self.refunds[refund["id"]] = refund
        self._event("charge.refunded", {**intent, "amount_refunded": refunded + amount})
        return refund

    def refunds_of(self, intent_id: str) -> list[dict[str, Any]]:
        return [r for r in self.refunds.values() if r["payment_intent"] == intent_id]

    # --- Events ---------------------------------------------------------------------

    def event(self, event_id: str) -> dict[str, Any]:
        for event in self.events:
            if event["id"] == event_id:
                return event
        raise invalid(f"No such event: '{event_id}'", "resource_missing", "id")

    def _event(self, kind: str, obj: dict[str, Any]) -> None:
        self.events.append(
            {
                "id": _id("evt"),
                "object": "event",
                "api_version": "2026-10-28.endive",
                "created": self.now(),
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": kind,
                "data": {"object": dict(obj)},
            }
        )

    def _hold_or_take(self, intent: dict[str, Any]) -> None:
        self.charges += 1
        # A processing payment keeps the charge it already has.
        intent["latest_charge"] = intent["latest_charge"] or _id("ch")
        intent["last_payment_error"] = None
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self._event("payment_intent.amount_capturable_updated", intent)
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
            self._event("payment_intent.succeeded", intent)

    def _fail(self, intent: dict[str, Any], code: str, decline_code: str, message: str) -> None:
        intent.update(
            status="requires_payment_method",
            last_payment_error={
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "payment_method": {"id": intent["payment_method"], "object": "payment_method"},
            },
            payment_method=None,
        )
        self._event("payment_intent.payment_failed", intent)
