"""Builds the configured payment gateway; its own module so the port
(gateways/payment_gateway.py) imports none of the adapters that implement it."""

from __future__ import annotations

from config.settings import PaymentSettings
from gateways.http_payment import HttpPaymentGateway
from gateways.payment_gateway import CircuitBreakerGateway, PaymentGateway
from gateways.simulated_payment import SimulatedPaymentGateway
from gateways.stripe_gateway import IntentLog, StripeGateway, build_stripe_client

__all__ = ["build_payment_gateway"]


def build_payment_gateway(
    settings: PaymentSettings, *, intents: IntentLog | None = None
) -> PaymentGateway:
    """The configured provider (``settings.provider``) behind a circuit breaker.

    Stripe: needs ``intents``, where each intent's id is recorded as soon as it exists (see
    gateways/stripe_gateway.py). The simulated one: with ``provider_url`` set, the shared
    provider service over HTTP; else the in-process simulation, shared by every process
    only through ``simulated_ledger_path``."""
    inner: PaymentGateway
    if settings.provider == "stripe":
        if intents is None:
            raise ValueError("the Stripe gateway needs an intent log (the database)")
        client = build_stripe_client(
            settings.stripe_secret_key.get_secret_value(), api_base=settings.stripe_api_base
        )
        inner = StripeGateway(client, intents, return_url=settings.stripe_return_url)
    elif settings.provider_url:
        inner = HttpPaymentGateway(
            settings.provider_url,
            timeout_seconds=settings.provider_timeout_seconds,
            token=settings.provider_token.get_secret_value(),
        )
    else:
        inner = SimulatedPaymentGateway(
            latency_seconds=settings.gateway_latency_ms / 1000,
            failure_rate=settings.gateway_failure_rate,
            ledger_path=settings.simulated_ledger_path or None,
        )
    return CircuitBreakerGateway(
        inner,
        failure_threshold=settings.breaker_failure_threshold,
        recovery_seconds=settings.breaker_recovery_seconds,
    )
