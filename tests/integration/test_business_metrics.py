"""Business counters count facts, not attempts: an activity Temporal runs again after its
fact was committed counts nothing more (real activities on a real PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.notifications import NotificationActivities
from activities.payments import PaymentActivities
from config.settings import RestockSettings
from devstack.process import free_port
from gateways.notification_channels import ChannelUnavailableError, LogChannel, SmtpChannel
from gateways.payment_gateway import CircuitBreakerGateway, GatewayUnavailableError
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.activities import ChargePaymentInput, NotifyCustomerInput, ReserveInventoryInput
from messages.saga import OrderSnapshot
from tests.integration.saga_data import Sessions, add_product, snapshot

pytestmark = pytest.mark.integration


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def charge_input(order: OrderSnapshot) -> ChargePaymentInput:
    return ChargePaymentInput(
        order_id=order.order_id,
        customer_id=order.customer_id,
        amount=order.total,
        currency=order.currency,
        payment=order.payment,
    )


async def reserved_order(sessions: Sessions, token: str = "tok_visa") -> OrderSnapshot:
    sku = f"sku-{uuid.uuid4().hex[:8]}"
    await add_product(sessions, sku, 50, price="12.00")
    order = snapshot((sku, 1), price="12.00", token=token)
    await InventoryActivities(sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )
    return order


async def test_a_conclusion_whose_send_failed_is_counted_once_across_its_retry(
    pg_sessions: Sessions,
) -> None:
    """The first attempt commits CONFIRMED then fails to send (counted: the status
    committed); the retry sends and finds the status recorded (not counted again)."""
    order = await reserved_order(pg_sessions)
    await PaymentActivities(pg_sessions, SimulatedPaymentGateway()).charge_payment(
        charge_input(order)
    )
    arg = NotifyCustomerInput(
        order=order, notification_type="ORDER_CONFIRMED", conclude_status="CONFIRMED"
    )
    confirmed = value("orders_completed_total", outcome="confirmed")
    durations = value("order_saga_duration_seconds_count", outcome="confirmed")
    unreachable = SmtpChannel(host="127.0.0.1", port=free_port(), sender="o@x", timeout_seconds=2)
    with pytest.raises(ChannelUnavailableError):
        await NotificationActivities(pg_sessions, unreachable).notify_customer(arg)
    assert value("orders_completed_total", outcome="confirmed") == confirmed + 1
    await NotificationActivities(pg_sessions, LogChannel()).notify_customer(arg)
    await NotificationActivities(pg_sessions, LogChannel()).notify_customer(arg)
    assert value("orders_completed_total", outcome="confirmed") == confirmed + 1
    assert value("order_saga_duration_seconds_count", outcome="confirmed") == durations + 1


async def test_a_charge_and_a_decline_are_counted_once_however_often_retried(
    pg_sessions: Sessions,
) -> None:
    """A retry answers from the recorded payment without asking the provider: no count."""
    payments = PaymentActivities(pg_sessions, SimulatedPaymentGateway())
    captured = value("payment_charges_total", result="captured")
    declined = value("payment_charges_total", result="declined")
    paid = await reserved_order(pg_sessions)
    refused = await reserved_order(pg_sessions, token="tok_chargeDeclined")
    for _ in range(2):
        await payments.charge_payment(charge_input(paid))
        with pytest.raises(ApplicationError):
            await payments.charge_payment(charge_input(refused))
    assert value("payment_charges_total", result="captured") == captured + 1
    assert value("payment_charges_total", result="declined") == declined + 1


async def test_an_out_of_stock_refusal_is_counted_once_however_often_retried(
    pg_sessions: Sessions,
) -> None:
    await add_product(pg_sessions, "sku-rare", 1)
    order = snapshot(("sku-rare", 5))
    inventory = InventoryActivities(pg_sessions, RestockSettings())
    before = value("inventory_reservation_failures_total", reason="out_of_stock")
    for _ in range(3):
        with pytest.raises(ApplicationError):
            await inventory.reserve_inventory(ReserveInventoryInput(order=order))
    assert value("inventory_reservation_failures_total", reason="out_of_stock") == before + 1


async def test_the_circuit_gauge_follows_the_breaker_and_every_failed_attempt_counts(
    pg_sessions: Sessions,
) -> None:
    """Provider down: each attempt is an error; after the threshold the circuit opens and
    the gauge reads 1 (the last PaymentActivities built is the one the gauge watches)."""
    down = SimulatedPaymentGateway(failure_rate=1.0)
    breaker = CircuitBreakerGateway(down, failure_threshold=2, recovery_seconds=60)
    payments = PaymentActivities(pg_sessions, breaker)
    order = await reserved_order(pg_sessions)
    errors = value("payment_charges_total", result="error")
    assert value("payment_circuit_open") == 0
    for _ in range(3):
        with pytest.raises(GatewayUnavailableError):
            await payments.charge_payment(charge_input(order))
    assert breaker.state == "open"
    assert value("payment_circuit_open") == 1
    assert value("payment_charges_total", result="error") == errors + 3
