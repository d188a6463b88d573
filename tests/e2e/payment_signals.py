"""A workflow standing in for an order's saga that only records the payment signals it
gets: what the Stripe webhook sends, and how often, seen from Temporal's side."""

from __future__ import annotations

from temporalio import workflow

from messages.saga import PaymentOutcome


@workflow.defn(name="PaymentSignalRecorder")
class PaymentSignalRecorder:
    def __init__(self) -> None:
        self._received: list[tuple[str, PaymentOutcome]] = []

    @workflow.run
    async def run(self) -> None:
        # Runs until the test terminates it: an order saga waiting for its payment.
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="payment_succeeded")
    def payment_succeeded(self, outcome: PaymentOutcome) -> None:
        self._received.append(("payment_succeeded", outcome))

    @workflow.signal(name="payment_failed")
    def payment_failed(self, outcome: PaymentOutcome) -> None:
        self._received.append(("payment_failed", outcome))

    @workflow.query(name="received")
    def received(self) -> list[tuple[str, PaymentOutcome]]:
        return self._received
