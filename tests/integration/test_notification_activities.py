"""The notification activities over a real SMTP server (aiosmtpd) and a real PostgreSQL:
the order's outcome commits with the notice, and each notice is e-mailed once."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.inventory import InventoryActivities
from activities.notifications import ILLEGAL_TRANSITION, NotificationActivities
from activities.payments import PaymentActivities
from config.settings import RestockSettings
from devstack.process import free_port
from gateways.notification_channels import ChannelUnavailableError, SmtpChannel
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.activities import (
    ChargePaymentInput,
    NotifyCustomerInput,
    ReleaseInventoryInput,
    ReserveInventoryInput,
)
from messages.restock import AlertLowStockInput, LowStock
from messages.saga import OrderSnapshot, PaymentInfo
from persistence.tables import NotificationRow
from tests.fixtures.smtp import LOOPBACK, SmtpServer
from tests.integration.saga_data import (
    Sessions,
    add_product,
    event_types,
    order_of,
    snapshot,
    stock_of,
)

pytestmark = pytest.mark.integration

SENDER = "orders@shop.example"


def smtp(port: int) -> SmtpChannel:
    return SmtpChannel(host=LOOPBACK, port=port, sender=SENDER, timeout_seconds=5)


@pytest.fixture
def notifications(pg_sessions: Sessions, smtp_server: SmtpServer) -> NotificationActivities:
    return NotificationActivities(pg_sessions, smtp(smtp_server.port))


def notice(
    order: OrderSnapshot, kind: str, conclude: str, reason: str | None = None
) -> NotifyCustomerInput:
    return NotifyCustomerInput(
        order=order, notification_type=kind, conclude_status=conclude, reason=reason
    )


async def paid_order(sessions: Sessions) -> OrderSnapshot:
    await add_product(sessions, "sku-mug", 50, price="12.00")
    order = snapshot(("sku-mug", 2), price="12.00")
    await InventoryActivities(sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )
    await PaymentActivities(sessions, SimulatedPaymentGateway()).charge_payment(
        ChargePaymentInput(
            order_id=order.order_id,
            customer_id=order.customer_id,
            amount=order.total,
            currency=order.currency,
            payment=order.payment,
        )
    )
    return order


async def notification_rows(sessions: Sessions, order_id: str) -> list[NotificationRow]:
    async with sessions() as session:
        statement = select(NotificationRow).where(col(NotificationRow.order_id) == order_id)
        return list((await session.exec(statement)).all())


async def test_a_confirmation_is_emailed_once_with_the_notification_id_as_message_id(
    pg_sessions: Sessions, notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """Notifying twice sends one e-mail to the customer, whose Message-ID is the
    notification's id; the order is CONFIRMED with OrderConfirmed, and the notice is
    recorded SENT with one NotificationSent."""
    order = await paid_order(pg_sessions)
    arg = notice(order, "ORDER_CONFIRMED", "CONFIRMED")

    first = await notifications.notify_customer(arg)
    second = await notifications.notify_customer(arg)

    assert second == first
    assert first.status == "SENT"
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["Message-ID"] == f"<{first.notification_id}@shop.example>"
    assert mail["To"] == order.customer_email
    assert mail["Subject"] == f"Order {order.order_id} confirmed"
    assert "24.00 EUR" in mail.get_content()
    confirmed = await order_of(pg_sessions, order.order_id)
    assert confirmed is not None
    assert confirmed.status == "CONFIRMED"
    assert (await event_types(pg_sessions, order.order_id))[-2:] == [
        "OrderConfirmed",
        "NotificationSent",
    ]
    [row] = await notification_rows(pg_sessions, order.order_id)
    assert (row.id, row.status, row.channel) == (first.notification_id, "SENT", "email")
    assert row.sent_at is not None


async def test_two_racing_deliveries_of_one_notice_record_one_notification_sent(
    pg_sessions: Sessions, notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """Two attempts concluding the same order at once may both send (delivery is at least
    once) but the notice is recorded SENT once: one NotificationSent, both answer SENT."""
    order = await paid_order(pg_sessions)
    arg = notice(order, "ORDER_CONFIRMED", "CONFIRMED")

    results = await asyncio.gather(*(notifications.conclude_order(arg) for _ in range(2)))

    assert [result.status for result in results] == ["SENT", "SENT"]
    assert len(smtp_server.messages) >= 1
    types = await event_types(pg_sessions, order.order_id)
    assert types.count("NotificationSent") == 1
    assert types.count("OrderConfirmed") == 1
    [row] = await notification_rows(pg_sessions, order.order_id)
    assert row.status == "SENT"


async def test_a_rejection_records_the_order_it_concludes(
    pg_sessions: Sessions, notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """An order never recorded (its reservation gave up) is recorded by its notice and
    REJECTED with the reason, in the transaction that records the notification."""
    await add_product(pg_sessions, "sku-gone", 0)
    order = snapshot(("sku-gone", 1))

    result = await notifications.notify_customer(
        notice(order, "ORDER_REJECTED", "REJECTED", reason="inventory unavailable")
    )

    assert result.status == "SENT"
    rejected = await order_of(pg_sessions, order.order_id)
    assert rejected is not None
    assert (rejected.status, rejected.failure_reason) == ("REJECTED", "inventory unavailable")
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "OrderRejected",
        "NotificationSent",
    ]
    assert "inventory unavailable" in smtp_server.messages[0].get_content()


async def test_with_smtp_down_the_outcome_is_committed_and_the_activity_raises(
    pg_sessions: Sessions, notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """The mail server is unreachable: the order is CANCELLED all the same and the
    notification recorded (FAILED, no NotificationSent), and the activity raises so
    Temporal retries it; the retry, with the server back, sends exactly one e-mail."""
    await add_product(pg_sessions, "sku-lamp", 5)
    order = snapshot(("sku-lamp", 1))
    arg = notice(order, "ORDER_CANCELLED", "CANCELLED", reason="customer changed their mind")
    unreachable = NotificationActivities(pg_sessions, smtp(free_port()))

    with pytest.raises(ChannelUnavailableError) as down:
        await unreachable.notify_customer(arg)

    assert not isinstance(down.value, ApplicationError)  # an ordinary error: Temporal retries
    cancelled = await order_of(pg_sessions, order.order_id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.failure_reason) == (
        "CANCELLED",
        "customer changed their mind",
    )
    [row] = await notification_rows(pg_sessions, order.order_id)
    assert row.status == "FAILED"
    assert "NotificationSent" not in await event_types(pg_sessions, order.order_id)

    retried = await notifications.notify_customer(arg)

    assert retried.status == "SENT"
    assert retried.notification_id == row.id
    assert len(smtp_server.messages) == 1
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "OrderCancelled",
        "NotificationSent",
    ]


async def test_a_payment_given_up_on_ends_with_its_one_terminal_event(
    pg_sessions: Sessions, notifications: NotificationActivities
) -> None:
    """PAYMENT_FAILED without a decline (the provider out past the budget, the customer who
    never acted) still tells other teams how the order ended: conclude records the
    PaymentFailed no payment recorded (docs/invariants.md, one terminal event)."""
    await add_product(pg_sessions, "sku-chair", 5)
    order = snapshot(("sku-chair", 1))
    await InventoryActivities(pg_sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )

    for _ in range(2):  # a retry after a lost reply records nothing twice
        await notifications.conclude_order(
            notice(order, "PAYMENT_FAILED", "PAYMENT_FAILED", reason="payment unavailable")
        )

    failed = await order_of(pg_sessions, order.order_id)
    assert failed is not None
    assert (failed.status, failed.failure_reason) == ("PAYMENT_FAILED", "payment unavailable")
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "PaymentFailed",
        # No release compensation ran in this test: the ending gives the units back.
        "InventoryReleased",
        "NotificationSent",
    ]


async def test_a_reservation_that_landed_after_its_release_goes_back_with_the_ending(
    pg_sessions: Sessions, notifications: NotificationActivities
) -> None:
    """A reservation attempt the saga gave up on can commit after the release compensation
    ran (it found nothing to give back). Concluding the order REJECTED gives those units
    back with the ending; the order is final, so a later attempt reserves nothing."""
    await add_product(pg_sessions, "sku-desk", 5)
    order = snapshot(("sku-desk", 2))
    inventory = InventoryActivities(pg_sessions, RestockSettings())
    await inventory.release_inventory(ReleaseInventoryInput(order_id=order.order_id, reason="x"))
    await inventory.reserve_inventory(ReserveInventoryInput(order=order))  # the late attempt
    assert (await stock_of(pg_sessions, "sku-desk")).reserved == 2

    await notifications.conclude_order(
        notice(order, "ORDER_REJECTED", "REJECTED", reason="inventory unavailable")
    )

    assert (await stock_of(pg_sessions, "sku-desk")).reserved == 0
    assert await event_types(pg_sessions, order.order_id) == [
        "OrderCreated",
        "InventoryReserved",
        "OrderRejected",
        "InventoryReleased",
        "NotificationSent",
    ]


async def test_a_declined_payment_keeps_its_own_terminal_event_alone(
    pg_sessions: Sessions, notifications: NotificationActivities
) -> None:
    """A decline recorded PaymentFailed already: concluding adds no second one."""
    await add_product(pg_sessions, "sku-lamp", 5)
    order = snapshot(("sku-lamp", 1))
    await InventoryActivities(pg_sessions, RestockSettings()).reserve_inventory(
        ReserveInventoryInput(order=order)
    )
    declined = order.model_copy(update={"payment": PaymentInfo(token="tok_chargeDeclined")})
    with pytest.raises(ApplicationError):
        await PaymentActivities(pg_sessions, SimulatedPaymentGateway()).charge_payment(
            ChargePaymentInput(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total,
                currency=order.currency,
                payment=declined.payment,
            )
        )

    await notifications.conclude_order(
        notice(order, "PAYMENT_FAILED", "PAYMENT_FAILED", reason="your card was declined")
    )

    assert (await event_types(pg_sessions, order.order_id)).count("PaymentFailed") == 1


async def test_an_outcome_the_order_cannot_reach_is_refused_without_retry(
    pg_sessions: Sessions, notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """Confirming an order that was never paid breaks the order's lifecycle: a
    non-retryable error, and nothing is recorded or sent."""
    await add_product(pg_sessions, "sku-desk", 5)
    order = snapshot(("sku-desk", 1))

    with pytest.raises(ApplicationError) as refused:
        await notifications.notify_customer(notice(order, "ORDER_CONFIRMED", "CONFIRMED"))

    assert refused.value.type == ILLEGAL_TRANSITION
    assert refused.value.non_retryable
    assert await order_of(pg_sessions, order.order_id) is None
    assert smtp_server.messages == []


async def test_a_low_stock_alert_is_emailed_once_per_restock(
    notifications: NotificationActivities, smtp_server: SmtpServer
) -> None:
    """The admins get one alert per restock run, however often it is delivered."""
    low = LowStock(product_id="sku-beans", available=3, reorder_point=5, reorder_quantity=20)
    first_run = AlertLowStockInput(
        low_stock=low, admin_email="buyers@example.com", restock_id="restock-sku-beans/run-1"
    )

    first = await notifications.alert_low_stock(first_run)
    repeated = await notifications.alert_low_stock(first_run)
    await notifications.alert_low_stock(
        first_run.model_copy(update={"restock_id": "restock-sku-beans/run-2"})
    )

    assert repeated == first
    assert [mail["To"] for mail in smtp_server.messages] == ["buyers@example.com"] * 2
    assert smtp_server.messages[0]["Subject"] == "Low stock: sku-beans"
    assert smtp_server.messages[0]["Message-ID"] == f"<{first.notification_id}@shop.example>"
