"""The payment activities on a real PostgreSQL with the simulated provider: one charge per
order whatever is redelivered or lost, declines recorded, refunds and voids once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.payments import PaymentActivities
from config.settings import RestockSettings
from gateways.payment_gateway import (
    ChargeStatus,
    CircuitBreakerGateway,
    GatewayUnavailableError,
    PaymentGateway,
)
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import errors
from messages.activities import (
    CapturePaymentInput,
    ChargePaymentInput,
    RefundPaymentInput,
    ReserveInventoryInput,
)
from messages.saga import OrderSnapshot
from models import Money
from persistence.tables import PaymentRow
from tests.integration.saga_data import Sessions, add_product, event_types, order_of, snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway() -> SimulatedPaymentGateway:
    return SimulatedPaymentGateway()


@pytest.fixture
def payments(pg_sessions: Sessions, gateway: SimulatedPaymentGateway) -> PaymentActivities:
    return PaymentActivities(pg_sessions, gateway)


async def reserved_order(sessions: Sessions, token: str = "tok_visa") -> OrderSnapshot:
    """A recorded order, RESERVED, for two units at 12.50 EUR (25.00 in all)."""
    sku = f"sku-{token}"
    await add_product(sessions, sku, 100, price="12.50")
    order = snapshot((sku, 2), token=token, price="12.50")
    await InventoryActivities(sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )
    return order


def charge_of(order: OrderSnapshot, *, capture: bool = True) -> ChargePaymentInput:
    return ChargePaymentInput(
        order_id=order.order_id,
        customer_id=order.customer_id,
        amount=order.total,
        currency=order.currency,
        payment=order.payment,
        capture=capture,
    )


def key_of(order: OrderSnapshot) -> str:
    return f"order-{order.order_id}"


async def payment_row(sessions: Sessions, order_id: str) -> PaymentRow | None:
    async with sessions() as session:
        statement = select(PaymentRow).where(col(PaymentRow.order_id) == order_id)
        return (await session.exec(statement)).first()


async def test_charging_twice_charges_once(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """A redelivered charge answers from the recorded payment: one charge at the provider,
    the same result, the order PAID once."""
    order = await reserved_order(pg_sessions)

    first = await payments.charge_payment(charge_of(order))
    second = await payments.charge_payment(charge_of(order))

    assert first.status == "CAPTURED"
    assert second == first
    assert gateway.charge_count(key_of(order)) == 1
    assert gateway.calls == 1
    recorded = await order_of(pg_sessions, order.order_id)
    assert recorded is not None
    assert recorded.status == "PAID"
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "PaymentProcessed",
    ]


async def test_a_declined_card_is_refused_the_same_way_every_time(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """A decline raises PAYMENT_DECLINED (not retried) and records a FAILED payment; the
    redelivery raises the same from the record without asking the provider again."""
    order = await reserved_order(pg_sessions, token="tok_chargeDeclined")

    for _ in range(2):
        with pytest.raises(ApplicationError) as declined:
            await payments.charge_payment(charge_of(order))
        assert declined.value.type == errors.PAYMENT_DECLINED
        assert declined.value.non_retryable
        assert declined.value.message == "your card was declined"

    assert gateway.calls == 1
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert (row.status, row.failure_reason) == ("FAILED", "your card was declined")
    recorded = await order_of(pg_sessions, order.order_id)
    assert recorded is not None
    assert recorded.status == "RESERVED"  # the saga concludes PAYMENT_FAILED with its notice
    assert (await event_types(pg_sessions, order.order_id))[-1] == "PaymentFailed"


async def test_a_refund_after_a_charge_refunds_once(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """Refunding a captured payment gives the money back at the provider once and records
    REFUNDED with PaymentRefunded; the redelivery answers from the record."""
    order = await reserved_order(pg_sessions)
    charged = await payments.charge_payment(charge_of(order))
    refund = RefundPaymentInput(order_id=order.order_id, reason="cancelled")

    first = await payments.refund_payment(refund)
    calls = gateway.calls
    second = await payments.refund_payment(refund)

    assert (first.outcome, first.payment_id) == ("REFUNDED", charged.payment_id)
    assert second == first
    assert gateway.calls == calls
    at_provider = await gateway.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is ChargeStatus.REFUNDED
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert row.status == "REFUNDED"
    assert row.refund_reference == at_provider.refund_reference
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentRefunded") == 1


async def test_a_refund_with_no_charge_has_nothing_to_refund(
    pg_sessions: Sessions, payments: PaymentActivities
) -> None:
    """No payment recorded and none at the provider: NOTHING_TO_REFUND, and only the fence
    against a late charge written (VOIDED, no charge named, no event)."""
    order = await reserved_order(pg_sessions)

    result = await payments.refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="cancelled")
    )

    assert (result.outcome, result.payment_id) == ("NOTHING_TO_REFUND", None)
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert (row.status, row.gateway_reference) == ("VOIDED", None)
    assert await event_types(pg_sessions, order.order_id) == ["OrderCreated", "InventoryReserved"]


async def test_a_charge_whose_recording_was_lost_is_refunded(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """The provider holds a charge under the order's key that no row records (the attempt
    died after charging): refund_payment finds it, refunds it and records what happened."""
    order = await reserved_order(pg_sessions)
    lost = await gateway.charge(
        key_of(order), Money(order.total, "EUR"), order.payment.token, capture=True
    )

    result = await payments.refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="charge step gave up")
    )

    assert result.outcome == "REFUNDED"
    at_provider = await gateway.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is ChargeStatus.REFUNDED
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert (row.status, row.gateway_reference, row.amount) == (
        "REFUNDED",
        lost.reference,
        Decimal("25.00"),
    )
    assert (await event_types(pg_sessions, order.order_id))[-2:] == [
        "PaymentProcessed",
        "PaymentRefunded",
    ]


async def test_a_retry_after_a_lost_recording_does_not_charge_again(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """The retry of a charge whose recording failed meets the provider's idempotency: it
    records the first charge instead of making a second."""
    order = await reserved_order(pg_sessions)
    lost = await gateway.charge(
        key_of(order), Money(order.total, "EUR"), order.payment.token, capture=True
    )

    result = await payments.charge_payment(charge_of(order))

    assert (result.status, result.gateway_reference) == ("CAPTURED", lost.reference)
    assert gateway.charge_count(key_of(order)) == 1


async def test_authorise_then_capture(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """Authorising holds the money and leaves the order RESERVED; capturing takes it and
    makes the order PAID, once."""
    order = await reserved_order(pg_sessions)

    authorised = await payments.charge_payment(charge_of(order, capture=False))
    held = await order_of(pg_sessions, order.order_id)
    captured = await payments.capture_payment(CapturePaymentInput(order_id=order.order_id))
    again = await payments.capture_payment(CapturePaymentInput(order_id=order.order_id))

    assert authorised.status == "AUTHORIZED"
    assert held is not None
    assert held.status == "RESERVED"
    assert captured.status == "CAPTURED"
    assert again == captured
    at_provider = await gateway.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is ChargeStatus.CAPTURED
    paid = await order_of(pg_sessions, order.order_id)
    assert paid is not None
    assert paid.status == "PAID"
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentProcessed") == 2


async def test_refunding_an_authorisation_voids_it(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """Money only held is released, not refunded: VOIDED with PaymentVoided."""
    order = await reserved_order(pg_sessions)
    await payments.charge_payment(charge_of(order, capture=False))

    result = await payments.refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="cancelled")
    )

    assert result.outcome == "VOIDED"
    at_provider = await gateway.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is ChargeStatus.VOIDED
    assert (await event_types(pg_sessions, order.order_id))[-1] == "PaymentVoided"


async def test_cancelling_an_authorisation_captured_unrecorded_refunds_the_capture(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """The capture went through at the provider but its record was lost (the row still
    says AUTHORIZED) and the order was cancelled: the compensation asks the provider, refunds
    the capture once instead of voiding forever, and records the capture and the refund."""
    order = await reserved_order(pg_sessions)
    held = await payments.charge_payment(charge_of(order, capture=False))
    assert held.gateway_reference is not None
    await gateway.capture(held.gateway_reference)
    refund = RefundPaymentInput(order_id=order.order_id, reason="cancelled")

    first = await payments.refund_payment(refund)
    again = await payments.refund_payment(refund)

    assert first.outcome == again.outcome == "REFUNDED"
    assert gateway.refund_count(held.gateway_reference) == 1
    row = await payment_row(pg_sessions, order.order_id)
    assert row is not None
    assert row.status == "REFUNDED"
    assert (await event_types(pg_sessions, order.order_id))[-3:] == [
        "PaymentProcessed",
        "PaymentProcessed",
        "PaymentRefunded",
    ]


async def test_a_charge_other_than_the_order_total_is_refused(
    pg_sessions: Sessions, payments: PaymentActivities, gateway: SimulatedPaymentGateway
) -> None:
    """The amount comes from the recorded order: any other amount is refused before the
    provider is asked."""
    order = await reserved_order(pg_sessions)
    wrong = charge_of(order).model_copy(update={"amount": Decimal("1.00")})

    with pytest.raises(ApplicationError) as refused:
        await payments.charge_payment(wrong)

    assert refused.value.non_retryable
    assert gateway.calls == 0


def breaker(gateway: PaymentGateway, recovery_seconds: float) -> CircuitBreakerGateway:
    return CircuitBreakerGateway(gateway, failure_threshold=3, recovery_seconds=recovery_seconds)


async def test_the_breaker_opens_after_three_failures_and_then_fails_fast(
    pg_sessions: Sessions, gateway: SimulatedPaymentGateway
) -> None:
    """Three gateway failures in a row open the circuit: the next charge raises
    GatewayUnavailableError (retryable) without reaching the provider."""
    order = await reserved_order(pg_sessions)
    guarded = breaker(gateway, recovery_seconds=60)
    payments = PaymentActivities(pg_sessions, guarded)
    gateway.outage(on=True)

    for _ in range(3):
        with pytest.raises(GatewayUnavailableError):
            await payments.charge_payment(charge_of(order))
    assert gateway.calls == 3
    assert guarded.state == "open"

    gateway.outage(on=False)
    with pytest.raises(GatewayUnavailableError, match="circuit open"):
        await payments.charge_payment(charge_of(order))
    assert gateway.calls == 3
    assert await payment_row(pg_sessions, order.order_id) is None


async def test_the_breaker_lets_a_call_through_after_recovery_and_closes(
    pg_sessions: Sessions, gateway: SimulatedPaymentGateway
) -> None:
    """Once the recovery time has passed the next call reaches the provider, and its
    success closes the circuit."""
    order = await reserved_order(pg_sessions)
    guarded = breaker(gateway, recovery_seconds=0.2)
    payments = PaymentActivities(pg_sessions, guarded)
    gateway.outage(on=True)
    for _ in range(3):
        with pytest.raises(GatewayUnavailableError):
            await payments.charge_payment(charge_of(order))
    gateway.outage(on=False)

    await asyncio.sleep(0.25)
    result = await payments.charge_payment(charge_of(order))

    assert result.status == "CAPTURED"
    assert guarded.state == "closed"
    assert gateway.charge_count(key_of(order)) == 1
