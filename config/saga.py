"""What the saga's steps do: its budgets, the payment provider, restocking and the
notices (``ORDERS_SAGA__*``, ``ORDERS_PAYMENTS__*``, ``ORDERS_RESTOCK__*``,
``ORDERS_NOTIFICATIONS__*``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class RestockSettings(BaseModel):
    # How long the supplier takes to deliver a restock order (a durable timer in the workflow).
    lead_time_seconds: float = Field(default=3600.0, ge=0)
    admin_email: str = "stock-admins@example.com"


class PaymentSettings(BaseModel):
    # "direct" charges at once; "authorize_capture" holds the money and captures at confirmation.
    flow: Literal["direct", "authorize_capture"] = "direct"
    gateway_latency_ms: int = Field(default=0, ge=0)
    gateway_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_recovery_seconds: float = Field(default=10.0, gt=0)
    currency: str = "EUR"
    # The shared simulated provider service (``python -m provider``), e.g.
    # ``http://payment-provider:8100``: every worker calls the one provider over HTTP.
    # Production needs it (or a real provider); empty = the in-process simulation below.
    provider_url: str = ""
    # The provider service's bearer token: with it set the service answers only requests
    # carrying it (all but /healthz: charges, refunds, the outage switch) and the workers
    # send it. Production with the simulated provider needs one.
    provider_token: SecretStr = SecretStr("")
    # How long a call may take before its outcome counts as unknown (retried, same key).
    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    # Without provider_url: the in-process simulation's ledger, a SQLite file standing for
    # the provider's own database (every process on the file shares one provider); empty =
    # each process keeps its own ledger in memory (unit tests only). The provider service
    # keeps its ledger in this file too when started without --ledger.
    simulated_ledger_path: str = ""
    # Which provider takes the money: the simulation, or Stripe (PaymentIntents).
    provider: Literal["simulated", "stripe"] = "simulated"
    # Stripe's secret API key (sk_test_… / sk_live_…, or a restricted rk_… key).
    stripe_secret_key: SecretStr = SecretStr("")
    # Where the SDK sends its requests; empty = Stripe's own API. Tests point it at a double.
    stripe_api_base: str = ""
    # The signing secret of the webhook endpoint (whsec_…) that POST /webhooks/stripe checks.
    stripe_webhook_secret: SecretStr = SecretStr("")
    # Where Stripe sends the customer back after 3-D Secure; with it the next action is a
    # redirect URL, without it the intent's client secret for Stripe.js to handle.
    stripe_return_url: str = ""

    @model_validator(mode="after")
    def _stripe_needs_its_secrets(self) -> PaymentSettings:
        if self.provider == "stripe":
            for variable, secret in (
                ("ORDERS_PAYMENTS__STRIPE_SECRET_KEY", self.stripe_secret_key),
                ("ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
            ):
                if not secret.get_secret_value():
                    raise ValueError(f"ORDERS_PAYMENTS__PROVIDER=stripe needs {variable}")
        return self


class SagaSettings(BaseModel):
    """The saga's budgets and waits, in one place (the fault tests shorten them here).

    Passed to each saga in its input (``messages.saga.SagaPolicy``), since workflow code
    cannot read the environment: ``ORDERS_SAGA__CHARGE_BUDGET_SECONDS=30``.
    """

    # Infrastructure failures (database trouble, provider outage) are retried this long,
    # then the order waits in NEEDS_ATTENTION for an operator instead of failing.
    reserve_budget_seconds: float = Field(default=120.0, gt=0)
    charge_budget_seconds: float = Field(default=600.0, gt=0)
    # A parked order compensates by itself after this hold (a durable timer).
    attention_hold_seconds: float = Field(default=24 * 3600.0, gt=0)
    # A payment waiting for the customer's action (3-D Secure…) is voided after this.
    payment_action_timeout_seconds: float = Field(default=30 * 60.0, gt=0)


class NotificationSettings(BaseModel):
    channel: Literal["log", "smtp"] = "log"
    smtp_host: str = "localhost"
    smtp_port: int = 1025
    smtp_sender: str = "orders@example.com"
    smtp_timeout_seconds: float = 10.0
