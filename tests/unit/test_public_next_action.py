"""What of a provider's next action may be stored in events and published on Kafka."""

from __future__ import annotations

from gateways.payment_gateway import public_next_action


def test_a_redirect_url_is_kept_as_it_is() -> None:
    url = "https://hooks.stripe.com/3d_secure_2/hosted?payment_intent=pi_1"
    assert public_next_action(url) == url


def test_a_client_secret_step_keeps_only_its_kind() -> None:
    """Whoever holds the client secret can complete the payment: never in an event."""
    assert public_next_action("stripe-js:pi_1_secret_abc") == "stripe-js"


def test_no_action_stays_none() -> None:
    assert public_next_action(None) is None
