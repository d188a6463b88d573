"""The invariants (docs/invariants.md) on real parts: one order's facts gathered from
PostgreSQL (read model, reservations, events, notices) and from the payment provider's
own books (the simulated provider's ledger), then ``models.invariants.violations``."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from gateways.payment_gateway import ChargeStatus
from gateways.simulated_payment import SimulatedPaymentGateway
from messages.saga import OrderSnapshot, SagaResult
from models.invariants import Money, OrderFacts, violations
from models.notification import NotificationStatus, NotificationType
from models.order_status import OrderStatus
from persistence.payments import idempotency_key
from persistence.tables import (
    RESERVATION_RESERVED,
    EventRow,
    InventoryReservationRow,
    NotificationRow,
    OrderRow,
)

__all__ = ["assert_invariants", "facts_of", "order_facts"]

Sessions = async_sessionmaker[AsyncSession]
ZERO = Decimal("0")


async def order_facts(
    sessions: Sessions, provider: SimulatedPaymentGateway, order: OrderSnapshot, result: SagaResult
) -> OrderFacts:
    """What the database and the provider say of ``order``, whose saga ended with ``result``."""
    units = sum(line.quantity for line in order.lines)
    return await facts_of(
        sessions, provider, order.order_id, total=order.total, units=units, result=result
    )


async def facts_of(
    sessions: Sessions,
    provider: SimulatedPaymentGateway,
    order_id: str,
    *,
    total: Decimal,
    units: int,
    result: SagaResult,
) -> OrderFacts:
    """:func:`order_facts` for an order known by its id, total and units only (a restore
    drill knows what it placed, not the saga's input)."""
    async with sessions() as session:
        row = await session.get(OrderRow, order_id)
        held = (
            await session.exec(
                select(InventoryReservationRow.quantity).where(
                    col(InventoryReservationRow.order_id) == order_id,
                    col(InventoryReservationRow.status) == RESERVATION_RESERVED,
                )
            )
        ).all()
        events = (
            await session.exec(
                select(EventRow.event_type)
                .where(col(EventRow.aggregate_id) == order_id)
                .order_by(col(EventRow.version))
            )
        ).all()
        notices = (
            await session.exec(
                select(NotificationRow.type).where(
                    col(NotificationRow.order_id) == order_id,
                    col(NotificationRow.status) == NotificationStatus.SENT.value,
                )
            )
        ).all()
    return OrderFacts(
        order_id=order_id,
        saga_status=OrderStatus(result.status),
        saga_ended=True,
        read_model=None if row is None else OrderStatus(row.status),
        total=total,
        units=units,
        money=await _books(provider, order_id),
        stock_held=sum(held),
        events=tuple(events),
        notices=tuple(NotificationType(kind) for kind in notices),
    )


async def _books(provider: SimulatedPaymentGateway, order_id: str) -> Money:
    key = idempotency_key(order_id)
    charge = await provider.find_charge(key)
    if charge is None:
        return Money()
    amount = charge.amount.amount
    taken = charge.status in (ChargeStatus.CAPTURED, ChargeStatus.REFUNDED)
    return Money(
        captured=amount if taken else ZERO,
        refunded=amount if charge.status is ChargeStatus.REFUNDED else ZERO,
        authorized=amount if charge.status is ChargeStatus.AUTHORIZED else ZERO,
        open_intents=1 if charge.status is ChargeStatus.REQUIRES_ACTION else 0,
        # The ledger's own count: a second charge under the key would show here.
        charges_taken=provider.charge_count(key) if taken else 0,
    )


async def assert_invariants(
    sessions: Sessions, provider: SimulatedPaymentGateway, order: OrderSnapshot, result: SagaResult
) -> None:
    """Fail with every invariant the order breaks, and its facts."""
    facts = await order_facts(sessions, provider, order, result)
    broken = violations(facts)
    assert not broken, f"{broken}\n{facts}"
