"""The Stripe double's test cards, errors and request checks, as Stripe documents them.

Test payment methods (``pm_card_…``): the succeeding ones, the declining ones with the
decline codes Stripe answers, and the ones that need 3-D Secure. One is the double's own:
``pm_card_processing`` leaves the intent ``processing`` until a test settles it. No Stripe
test card does that, but Stripe documents the state for cards ("rarely") and asynchronous
methods (bank debits) spend days in it, so the adapter must meet it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUTHENTICATING",
    "CANCELABLE",
    "DECLINES",
    "PROCESSING",
    "SUCCEEDING",
    "StripeApiError",
    "check_payment_method",
    "invalid",
    "next_action",
    "positive_int",
    "unexpected",
]

SUCCEEDING = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_amex"})
AUTHENTICATING = frozenset({"pm_card_threeDSecure2Required", "pm_card_authenticationRequired"})
PROCESSING = frozenset({"pm_card_processing"})
# payment method -> (code, decline_code, message), as Stripe answers for its test cards
DECLINES: dict[str, tuple[str, str, str]] = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "expired_card", "Your card has expired."),
    "pm_card_chargeDeclinedLostCard": ("card_declined", "lost_card", "Your card was declined."),
}
CANCELABLE = frozenset(
    {
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
        "requires_capture",
        "processing",
    }
)


class StripeApiError(Exception):
    """An error answer: HTTP status and Stripe's ``error`` object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def invalid(message: str, code: str | None = None, param: str | None = None) -> StripeApiError:
    error: dict[str, Any] = {"type": "invalid_request_error", "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return StripeApiError(404 if code == "resource_missing" else 400, error)


def check_payment_method(method: object) -> None:
    known = SUCCEEDING | AUTHENTICATING | PROCESSING | DECLINES.keys()
    if method not in known:
        raise invalid(f"No such PaymentMethod: '{method}'", "resource_missing", "payment_method")


def positive_int(value: object, param: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise invalid(f"Invalid integer: {value}", "parameter_invalid_integer", param) from None
    if number < 1:
        raise invalid("This value must be greater than or equal to 1.", "amount_too_small", param)
    return number


def unexpected(intent: dict[str, Any], action: str) -> StripeApiError:
    return invalid(
        f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
        "payment_intent_unexpected_state",
    )


def next_action(intent: dict[str, Any], base_url: str) -> dict[str, Any]:
    if intent.get("return_url"):
        url = f"{base_url}/_test/3ds/{intent['id']}"
        return {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": url, "return_url": intent["return_url"]},
        }
    return {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
