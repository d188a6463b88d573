"""A stateful Stripe test double: an HTTP server the official SDK talks to (its base URL).

It implements the part of Stripe's API the adapter uses -- PaymentIntents (create,
retrieve, confirm, capture, cancel), Refunds (create, list, retrieve) and Events --
with Stripe's documented semantics (see ``ledger`` and ``idempotency``), and delivers
its events to a webhook endpoint signed as Stripe signs them. stripe-mock checks request
shapes against Stripe's schema but keeps no state; this double is what outcomes are
proven against.

Test-only endpoints, under ``/_test``: complete or fail a payment's 3-D Secure
(``POST /_test/payment_intents/{id}/authenticate`` with ``outcome=succeed|fail``), settle
a ``processing`` payment (``POST /_test/payment_intents/{id}/settle``, the same), move
the clock (``POST /_test/clock/advance`` with ``seconds``), re-deliver an event
(``POST /_test/events/{id}/deliver``).

    with StripeDouble(webhook_url=..., webhook_secret=...) as double:
        client = build_stripe_client("sk_test_x", api_base=double.base_url)
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

import uvicorn

from devstack.process import free_port
from devstack.stripe_double.app import DoubleState, build_app

__all__ = ["StripeDouble"]


class StripeDouble:
    def __init__(
        self,
        *,
        webhook_url: str = "",
        webhook_secret: str = "whsec_double",  # noqa: S107 -- a test double's own secret
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.state = DoubleState(
            base_url=self.base_url, webhook_url=webhook_url, webhook_secret=webhook_secret
        )
        config = uvicorn.Config(
            build_app(self.state), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="stripe-double", daemon=True)

    def _serve(self) -> None:
        asyncio.run(self._server.serve())

    def start(self) -> StripeDouble:
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                print(f"stripe double: {self.base_url}", flush=True)
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.05)
        raise RuntimeError(f"the Stripe double did not start on port {self.port}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> StripeDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
