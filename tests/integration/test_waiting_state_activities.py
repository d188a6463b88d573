"""The activities behind the waiting states, on a real PostgreSQL with the simulated
provider: a payment waiting for the customer, its reported outcome, and an order parked
and retried -- each recorded once whatever is redelivered."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.order_status import OrderStatusActivities
from activities.payments import PaymentActivities
from gateways.payment_gateway import GatewayRequestError
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import errors
from messages.activities import (
    RecordOrderStatusInput,
    RecordPaymentOutcomeInput,
    RefundPaymentInput,
)
from messages.saga import OrderSnapshot
from models.actor import Actor
from persistence.event_store import actor_of, load_timeline
from tests.integration.saga_data import Sessions, event_types, order_of
from tests.integration.test_payment_activities import charge_of, key_of, payment_row, reserved_order

pytestmark = pytest.mark.integration

ACTION = "tok_threeDSecureRequired"


async def waiting(
    sessions: Sessions, gateway: SimulatedPaymentGateway
) -> tuple[OrderSnapshot, PaymentActivities, str]:
    """A reserved order whose charge waits for the customer; its charge reference."""
    order = await reserved_order(sessions, token=ACTION)
    payments = PaymentActivities(sessions, gateway)
    result = await payments.charge_payment(charge_of(order))
    assert result.gateway_reference is not None
    return order, payments, result.gateway_reference


async def test_a_charge_needing_the_customer_is_recorded_pending_with_its_next_action(
    pg_sessions: Sessions,
) -> None:
    """PENDING payment, PAYMENT_PENDING order, PaymentActionRequired; a retry answers the same."""
    gateway = SimulatedPaymentGateway()
    order, payments, reference = await waiting(pg_sessions, gateway)
    again = await payments.charge_payment(charge_of(order))
    row = await order_of(pg_sessions, order.order_id)
    assert again.status == "PENDING"
    assert again.next_action is not None
    assert reference in again.next_action
    assert row is not None
    assert row.status == "PAYMENT_PENDING"
    assert gateway.charge_count(key_of(order)) == 1
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentActionRequired") == 1


async def test_a_reported_success_captures_and_pays_the_order_once(
    pg_sessions: Sessions,
) -> None:
    """The report recorded twice (a redelivered activity): one PaymentProcessed, order PAID."""
    gateway = SimulatedPaymentGateway()
    order, payments, reference = await waiting(pg_sessions, gateway)
    await gateway.complete_action(reference, succeed=True)
    report = RecordPaymentOutcomeInput(
        order_id=order.order_id, succeeded=True, provider_event_id="evt_1", reference=reference
    )
    first = await payments.record_payment_outcome(report)
    second = await payments.record_payment_outcome(report)
    row = await order_of(pg_sessions, order.order_id)
    assert first.status == second.status == "CAPTURED"
    assert row is not None
    assert row.status == "PAID"
    assert (await event_types(pg_sessions, order.order_id)).count("PaymentProcessed") == 1


@pytest.mark.parametrize("succeeded", [True, False])
async def test_a_report_naming_another_charge_is_refused_and_changes_nothing(
    pg_sessions: Sessions, succeeded: bool
) -> None:
    """A report for a charge that is not this order's is a bug to look at, not a payment:
    the payment stays PENDING, the order PAYMENT_PENDING, no event is written."""
    gateway = SimulatedPaymentGateway()
    order, payments, _ = await waiting(pg_sessions, gateway)
    before = await event_types(pg_sessions, order.order_id)
    report = RecordPaymentOutcomeInput(
        order_id=order.order_id,
        succeeded=succeeded,
        provider_event_id="evt_x",
        reference="ch_other",
    )
    with pytest.raises(ApplicationError) as refused:
        await payments.record_payment_outcome(report)
    row = await order_of(pg_sessions, order.order_id)
    payment = await payment_row(pg_sessions, order.order_id)
    assert refused.value.type == errors.INVALID_ORDER
    assert row is not None
    assert payment is not None
    assert (row.status, payment.status) == ("PAYMENT_PENDING", "PENDING")
    assert await event_types(pg_sessions, order.order_id) == before


@pytest.mark.parametrize("customer_failed_first", [True, False])
async def test_a_reported_failure_closes_the_charge_at_the_provider_once(
    pg_sessions: Sessions, customer_failed_first: bool
) -> None:
    """Payment FAILED, the charge VOIDED at the provider (left open, the customer could
    still complete it after the order ended), whether or not the provider had closed it
    already; the report recorded twice writes nothing more and calls nothing that fails."""
    gateway = SimulatedPaymentGateway()
    order, payments, reference = await waiting(pg_sessions, gateway)
    if customer_failed_first:
        await gateway.complete_action(reference, succeed=False)
    report = RecordPaymentOutcomeInput(
        order_id=order.order_id,
        succeeded=False,
        provider_event_id="evt_f",
        reference=reference,
        reason="authentication failed",
    )
    first = await payments.record_payment_outcome(report)
    timeline = await event_types(pg_sessions, order.order_id)
    second = await payments.record_payment_outcome(report)
    charge = await gateway.find_charge(key_of(order))
    payment = await payment_row(pg_sessions, order.order_id)
    assert first.status == second.status == "FAILED"
    assert charge is not None
    assert charge.status == "VOIDED"
    assert payment is not None
    assert (payment.status, payment.failure_reason) == ("FAILED", "authentication failed")
    assert timeline.count("PaymentFailed") == 1
    assert await event_types(pg_sessions, order.order_id) == timeline
    with pytest.raises(GatewayRequestError):
        await gateway.complete_action(reference, succeed=True)


async def test_a_failed_charge_the_customer_paid_meanwhile_is_refunded(
    pg_sessions: Sessions,
) -> None:
    """The failure reported after the customer completed the charge after all: the money
    is given back and the timeline says it was taken and refunded, once."""
    gateway = SimulatedPaymentGateway()
    order, payments, reference = await waiting(pg_sessions, gateway)
    await gateway.complete_action(reference, succeed=True)
    report = RecordPaymentOutcomeInput(
        order_id=order.order_id, succeeded=False, provider_event_id="evt_l", reference=reference
    )
    first = await payments.record_payment_outcome(report)
    second = await payments.record_payment_outcome(report)
    charge = await gateway.find_charge(key_of(order))
    timeline = await event_types(pg_sessions, order.order_id)
    assert first.status == second.status == "REFUNDED"
    assert charge is not None
    assert charge.status == "REFUNDED"
    assert (timeline.count("PaymentProcessed"), timeline.count("PaymentRefunded")) == (1, 1)


async def test_an_abandoned_waiting_charge_is_voided_at_the_provider(
    pg_sessions: Sessions,
) -> None:
    """The refund step on a payment still waiting for the customer voids it: no money moved."""
    gateway = SimulatedPaymentGateway()
    order, payments, _ = await waiting(pg_sessions, gateway)
    result = await payments.refund_payment(
        RefundPaymentInput(order_id=order.order_id, reason="timeout")
    )
    charge = await gateway.find_charge(key_of(order))
    row = await payment_row(pg_sessions, order.order_id)
    assert result.outcome == "VOIDED"
    assert charge is not None
    assert charge.status == "VOIDED"
    assert row is not None
    assert row.status == "VOIDED"


async def test_a_parked_order_is_recorded_once_and_retried_by_its_operator(
    pg_sessions: Sessions,
) -> None:
    """NEEDS_ATTENTION with OrderNeedsAttention, once; the retry back to RESERVED with
    OrderRetried naming the operator; a retry that would end the order is refused."""
    order = await reserved_order(pg_sessions)
    statuses = OrderStatusActivities(pg_sessions)
    park = RecordOrderStatusInput(
        order=order, status="NEEDS_ATTENTION", step="charge", reason="provider down"
    )
    await statuses.record_order_status(park)
    parked = await statuses.record_order_status(park)
    row = await order_of(pg_sessions, order.order_id)
    assert parked.status == "NEEDS_ATTENTION"
    assert row is not None
    assert row.failure_reason == "provider down"
    with pytest.raises(ApplicationError) as refused:
        await statuses.record_order_status(
            RecordOrderStatusInput(order=order, status="CONFIRMED", step="charge", actor="bob")
        )
    assert refused.value.type == errors.ILLEGAL_TRANSITION
    resumed = await statuses.record_order_status(
        RecordOrderStatusInput(order=order, status="RESERVED", step="charge", actor="alice")
    )
    timeline = await event_types(pg_sessions, order.order_id)
    assert resumed.status == "RESERVED"
    assert timeline.count("OrderNeedsAttention") == 1
    assert timeline[-1] == "OrderRetried"


@pytest.mark.parametrize(
    ("verified", "recorded"),
    [
        # The API's retry: the caller's verified token, acting as operator.
        (
            Actor(kind="user", subject="olga", role="operator"),
            Actor(kind="user", subject="olga", role="operator"),
        ),
        # The CLI's or the Web UI's: the name the input declares, unverified.
        (None, Actor(kind="operator", subject="olga")),
    ],
)
async def test_a_retry_records_its_operator_verified_or_as_declared(
    pg_sessions: Sessions, verified: Actor | None, recorded: Actor
) -> None:
    order = await reserved_order(pg_sessions)
    statuses = OrderStatusActivities(pg_sessions)
    await statuses.record_order_status(
        RecordOrderStatusInput(order=order, status="NEEDS_ATTENTION", step="charge")
    )
    await statuses.record_order_status(
        RecordOrderStatusInput(
            order=order, status="RESERVED", step="charge", actor="olga", verified_actor=verified
        )
    )
    async with pg_sessions() as session:
        events = await load_timeline(session, order.order_id)
    assert events[-1].event_type == "OrderRetried"
    assert actor_of(events[-1]) == recorded


async def test_an_order_no_step_could_record_is_recorded_when_parked(
    pg_sessions: Sessions,
) -> None:
    """Parked at the reservation (the database was down from the start): recorded first."""
    order = await reserved_order(pg_sessions)
    fresh = order.model_copy(update={"order_id": f"{order.order_id}-fresh"})
    await OrderStatusActivities(pg_sessions).record_order_status(
        RecordOrderStatusInput(order=fresh, status="NEEDS_ATTENTION", step="reserve")
    )
    assert await event_types(pg_sessions, fresh.order_id) == ["OrderCreated", "OrderNeedsAttention"]
