"""The fence between a compensation and a late charge attempt, on PostgreSQL with the
simulated provider: once the saga has given up on the charge and found nothing to undo, an
attempt still running takes no money, or gives back at once what it took."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, text
from sqlmodel import col, select
from temporalio.exceptions import ApplicationError

from activities.payments import PaymentActivities
from api.read_model import find_order
from api.services.order_views import from_record
from gateways.payment_gateway import ChargeStatus, GatewayCharge
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import errors
from messages.activities import RefundPaymentInput
from models import Money
from persistence.orders import lock as lock_order
from persistence.tables import PaymentRow
from tests.integration.saga_data import Sessions, event_types
from tests.integration.test_payment_activities import (
    charge_of,
    key_of,
    payment_row,
    reserved_order,
)

pytestmark = pytest.mark.integration

PAYMENT_EVENTS = ("PaymentProcessed", "PaymentActionRequired", "PaymentRefunded", "PaymentVoided")


class HeldAtProvider:
    """The simulated provider behind a charge that waits on its way there until the test
    lets it go: an attempt caught in the middle of its network call. Every other call goes
    straight through."""

    def __init__(self, provider: SimulatedPaymentGateway) -> None:
        self.provider = provider
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        self.arrived.set()
        await self.go.wait()
        return await self.provider.charge(idempotency_key, amount, token, capture=capture)

    async def capture(self, reference: str) -> GatewayCharge:
        return await self.provider.capture(reference)

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        return await self.provider.refund(reference, amount, idempotency_key=idempotency_key)

    async def void(self, reference: str) -> GatewayCharge:
        return await self.provider.void(reference)

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        return await self.provider.find_charge(idempotency_key)


@pytest.fixture
def provider() -> SimulatedPaymentGateway:
    return SimulatedPaymentGateway()


@pytest.fixture
def held(provider: SimulatedPaymentGateway) -> HeldAtProvider:
    return HeldAtProvider(provider)


@pytest.fixture
def payments(pg_sessions: Sessions, held: HeldAtProvider) -> PaymentActivities:
    return PaymentActivities(pg_sessions, held)


def given_up(order_id: str) -> RefundPaymentInput:
    return RefundPaymentInput(order_id=order_id, reason="charge step gave up")


async def payment_rows(sessions: Sessions, order_id: str) -> int:
    async with sessions() as session:
        statement = select(func.count()).where(col(PaymentRow.order_id) == order_id)
        return (await session.exec(statement)).one()


async def assert_fenced(sessions: Sessions, order_id: str) -> None:
    """The order's one payment row is the fence (VOIDED, no charge of ours named) and no
    payment event was recorded: consumers hear of no payment, since none was made."""
    row = await payment_row(sessions, order_id)
    assert row is not None
    assert (row.status, row.gateway_reference) == ("VOIDED", None)
    assert await payment_rows(sessions, order_id) == 1
    events = await event_types(sessions, order_id)
    assert not [event for event in events if event in PAYMENT_EVENTS]


async def until_backends_wait_on_a_lock(sessions: Sessions, count: int) -> None:
    waiting_on_lock = (
        select(func.count())
        .select_from(text("pg_stat_activity"))
        .where(text("datname = current_database() AND wait_event_type = 'Lock'"))
    )
    for _ in range(300):
        async with sessions() as probe:
            if (await probe.exec(waiting_on_lock)).one() >= count:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} backends never waited on the order's lock")


async def test_a_charge_after_the_compensation_takes_no_money(
    pg_sessions: Sessions,
    held: HeldAtProvider,
    provider: SimulatedPaymentGateway,
    payments: PaymentActivities,
) -> None:
    """The compensation found nothing to undo and left its fence; a charge attempt that
    starts afterwards meets the fence in its first read: it never reaches the provider and
    is refused (WrongOrderStatus, not retried), so nothing is taken for the ended order."""
    order = await reserved_order(pg_sessions)
    held.go.set()

    refunded = await payments.refund_payment(given_up(order.order_id))
    with pytest.raises(ApplicationError) as refused:
        await payments.charge_payment(charge_of(order))

    assert (refunded.outcome, refunded.payment_id) == ("NOTHING_TO_REFUND", None)
    assert refused.value.type == errors.WRONG_ORDER_STATUS
    assert refused.value.non_retryable
    assert not held.arrived.is_set()
    assert provider.charge_count(key_of(order)) == 0
    assert await provider.find_charge(key_of(order)) is None
    await assert_fenced(pg_sessions, order.order_id)


@pytest.mark.parametrize(
    ("token", "capture", "undone"),
    [
        ("tok_visa", True, ChargeStatus.REFUNDED),
        ("tok_visa", False, ChargeStatus.VOIDED),
        ("tok_threeDSecureRequired", True, ChargeStatus.VOIDED),
    ],
    ids=["captured", "authorised", "waiting-for-the-customer"],
)
async def test_a_charge_at_the_provider_while_the_fence_is_written_gives_the_money_back(
    pg_sessions: Sessions,
    held: HeldAtProvider,
    token: str,
    capture: bool,
    undone: ChargeStatus,
) -> None:
    """An attempt passed its first read before the fence existed and was at the provider
    when the compensation wrote it: recording, it finds the fence, undoes at once what the
    provider did (a capture refunded, an authorisation or a payment waiting for the
    customer voided), records nothing more and is refused."""
    payments = PaymentActivities(pg_sessions, held)
    order = await reserved_order(pg_sessions, token=token)
    late = asyncio.create_task(payments.charge_payment(charge_of(order, capture=capture)))
    await held.arrived.wait()

    refunded = await payments.refund_payment(given_up(order.order_id))
    held.go.set()
    with pytest.raises(ApplicationError) as refused:
        await late

    assert refunded.outcome == "NOTHING_TO_REFUND"
    assert refused.value.type == errors.WRONG_ORDER_STATUS
    at_provider = await held.provider.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is undone
    await assert_fenced(pg_sessions, order.order_id)


async def test_a_charge_that_waited_on_the_order_while_the_fence_was_written_gives_it_back(
    pg_sessions: Sessions,
    held: HeldAtProvider,
    provider: SimulatedPaymentGateway,
    payments: PaymentActivities,
) -> None:
    """The attempt's locked read began before the fence was committed and waited on the
    order's lock meanwhile, so it cannot see the fence; its insert meets the fence's row
    instead, and it reads again, finds the fence and refunds what it captured."""
    order = await reserved_order(pg_sessions)
    late = asyncio.create_task(payments.charge_payment(charge_of(order)))
    await held.arrived.wait()
    async with pg_sessions() as holder, holder.begin():
        # The order held: the compensation queues on it first, then the captured charge.
        await lock_order(holder, order.order_id)
        compensation = asyncio.create_task(payments.refund_payment(given_up(order.order_id)))
        await until_backends_wait_on_a_lock(pg_sessions, 1)
        held.go.set()
        await until_backends_wait_on_a_lock(pg_sessions, 2)

    refunded = await compensation
    with pytest.raises(ApplicationError) as refused:
        await late

    assert refunded.outcome == "NOTHING_TO_REFUND"
    assert refused.value.type == errors.WRONG_ORDER_STATUS
    at_provider = await provider.find_charge(key_of(order))
    assert at_provider is not None
    assert at_provider.status is ChargeStatus.REFUNDED
    await assert_fenced(pg_sessions, order.order_id)


async def test_a_retried_compensation_records_one_fence(
    pg_sessions: Sessions, payments: PaymentActivities
) -> None:
    """A compensation asked again, after its reply was lost or while a timed-out attempt
    still runs, answers as the first did and leaves the one fence."""
    order = await reserved_order(pg_sessions)

    racing = await asyncio.gather(
        payments.refund_payment(given_up(order.order_id)),
        payments.refund_payment(given_up(order.order_id)),
    )
    again = await payments.refund_payment(given_up(order.order_id))

    assert [result.outcome for result in [*racing, again]] == ["NOTHING_TO_REFUND"] * 3
    assert {result.payment_id for result in [*racing, again]} == {None}
    await assert_fenced(pg_sessions, order.order_id)


async def test_the_api_shows_a_fenced_order_without_a_payment(
    pg_sessions: Sessions, payments: PaymentActivities
) -> None:
    """The fence is bookkeeping against a late attempt, not a payment the customer made:
    the order's view shows none, as before the compensation ran."""
    order = await reserved_order(pg_sessions)

    await payments.refund_payment(given_up(order.order_id))

    async with pg_sessions() as session:
        record = await find_order(session, order.order_id)
    assert record is not None
    assert record.payment is not None
    assert from_record(record).payment is None
