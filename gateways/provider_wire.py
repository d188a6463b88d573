"""What the simulated provider's HTTP service and its client exchange, in one place.

Shaped like a card provider's REST API (Stripe's): the idempotency key travels in the
``Idempotency-Key`` header, amounts as decimal strings (never floats), and an error is a
JSON body ``{"error": {"type": …, "code": …, "message": …}}`` whose HTTP status says who is
to blame: 402 a decline, 409 a reused key, 400/404 an invalid request, 503 the provider.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateways.payment_gateway import ChargeStatus, GatewayCharge
from models.money import Money

__all__ = [
    "CARD_ERROR",
    "IDEMPOTENCY_ERROR",
    "IDEMPOTENCY_HEADER",
    "INVALID_REQUEST_ERROR",
    "UNAVAILABLE_ERROR",
    "charge_from_json",
    "charge_to_json",
    "error_body",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
CARD_ERROR = "card_error"
IDEMPOTENCY_ERROR = "idempotency_error"
INVALID_REQUEST_ERROR = "invalid_request_error"
UNAVAILABLE_ERROR = "api_error"


def charge_to_json(charge: GatewayCharge) -> dict[str, Any]:
    return {
        "reference": charge.reference,
        "status": charge.status.value,
        "amount": str(charge.amount.amount),
        "currency": charge.amount.currency,
        "idempotency_key": charge.idempotency_key,
        "refund_reference": charge.refund_reference,
        "refund_amount": None if charge.refund_amount is None else str(charge.refund_amount.amount),
        "next_action": charge.next_action,
    }


def charge_from_json(body: dict[str, Any]) -> GatewayCharge:
    currency = str(body["currency"])
    given = body.get("refund_amount")
    return GatewayCharge(
        reference=str(body["reference"]),
        status=ChargeStatus(body["status"]),
        amount=Money(Decimal(str(body["amount"])), currency),
        idempotency_key=str(body["idempotency_key"]),
        refund_reference=body.get("refund_reference"),
        # In the charge's currency; absent from an older provider's answers.
        refund_amount=None if given is None else Money(Decimal(str(given)), currency),
        next_action=body.get("next_action"),
    )


def error_body(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "code": code, "message": message}}
