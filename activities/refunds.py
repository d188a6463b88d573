"""After-sale refund activities: give a confirmed order's money back, return its goods.

Like the saga's payment steps, the provider is called outside any transaction and is
idempotent by key (``refund-<order_id>``: one after-sale refund per order); the answer is
recorded with the order's move to REFUNDED and its events in one transaction, so a retry
whose recording was lost meets the same refund at the provider, never a second one.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from activities import payment_records as records
from activities import stock
from activities.recording import WRONG_ORDER_STATUS, business_error, lock_order, move_order
from gateways.payment_gateway import GatewayRequestError, PaymentGateway
from messages import contract, errors
from messages.contract import implements
from messages.refund import (
    RefundMoneyInput,
    RefundMoneyResult,
    ReturnStockInput,
    ReturnStockResult,
    refund_idempotency_key,
)
from models import (
    EventItem,
    InventoryReturned,
    Money,
    OrderRefunded,
    OrderStatus,
    PaymentStatus,
)
from models.actor import Actor
from persistence.event_store import append_events
from persistence.tables import RESERVATION_RELEASED, OrderRow, PaymentRow, utc_now
from telemetry.context import order_context

__all__ = ["RefundPayments", "StockReturns"]

log = logging.getLogger(__name__)

_REFUNDED = OrderRefunded.__name__
_RETURNED = InventoryReturned.__name__


class RefundPayments(contract.RefundPayments):
    def __init__(self, sessions: async_sessionmaker[AsyncSession], gateway: PaymentGateway) -> None:
        self._sessions = sessions
        self._gateway = gateway

    @implements(contract.RefundPayments.refund_order_payment)
    async def refund_order_payment(self, arg: RefundMoneyInput) -> RefundMoneyResult:
        """Refund ``amount`` of a CONFIRMED order once; the order becomes REFUNDED with
        PaymentRefunded and OrderRefunded. An order already REFUNDED answers as recorded.

        The provider makes one refund per order's key for good (also once Stripe has
        forgotten the key): when it answers with a refund made earlier, for another amount,
        that amount is recorded and returned; a whole refund whose money is already back is
        recorded as done."""
        with order_context(arg.order_id):
            async with self._sessions() as session:
                order = await session.get(OrderRow, arg.order_id)
                payment = await records.payment_of(session, arg.order_id)
                done = await _recorded(session, arg)
                if done is not None:
                    return done
                reference = _refundable(arg.order_id, order, payment)
            amount = Money.of(arg.amount, arg.currency)
            try:
                charge = await self._gateway.refund(
                    reference, amount, idempotency_key=refund_idempotency_key(arg.order_id)
                )
            except GatewayRequestError as refused:
                # The provider answered no (already refunded elsewhere, more than is left):
                # asking again gets the same answer, so the refund fails for a person to see.
                raise business_error(
                    f"order {arg.order_id}: the provider refused the refund: {refused}",
                    errors.GATEWAY_REFUSED,
                ) from refused
            if charge.refund_amount is not None and charge.refund_amount != amount:
                # The order's one refund was made before (a run that failed after it, asked
                # for other lines): what the provider gave back is what is recorded.
                log.warning(
                    "order %s: refund %s already gave back %s (asked %s)",
                    arg.order_id,
                    charge.refund_reference,
                    charge.refund_amount,
                    amount,
                )
                amount = charge.refund_amount
            async with self._sessions() as session, session.begin():
                order = await lock_order(session, arg.order_id)
                payment = await records.payment_of(session, arg.order_id, lock=True)
                done = await _recorded(session, arg)
                if done is not None:
                    return done
                _refundable(arg.order_id, order, payment)
                assert order is not None
                assert payment is not None
                domain = records.to_domain(payment)
                events = [
                    domain.refund(amount),
                    OrderRefunded(
                        order_id=arg.order_id,
                        amount=amount.amount,
                        currency=amount.currency,
                        items=tuple(
                            EventItem(line.product_id, line.quantity) for line in arg.lines
                        ),
                        reason=arg.reason,
                        actor=arg.actor,
                        refund_reference=charge.refund_reference,
                    ),
                ]
                payment.status = domain.status.value
                payment.refunded_at = utc_now()
                payment.refund_reference = charge.refund_reference
                move_order(order, OrderStatus.REFUNDED, arg.reason)
                # The admin who asked, through a verified token (POST /orders/{id}/refund).
                admin = Actor(kind="user", subject=arg.actor, role="admin")
                await append_events(session, events, occurred_at=utc_now(), actor=admin)
            log.info("order %s refunded %s (%s)", arg.order_id, amount, charge.refund_reference)
            return RefundMoneyResult(
                order_id=arg.order_id,
                amount=amount.amount,
                currency=amount.currency,
                refund_reference=charge.refund_reference,
            )


class StockReturns(contract.StockReturns):
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @implements(contract.StockReturns.return_stock)
    async def return_stock(self, arg: ReturnStockInput) -> ReturnStockResult:
        """Put the returned lines back in stock once (InventoryReturned marks it done)."""
        with order_context(arg.order_id):
            async with self._sessions() as session, session.begin():
                await lock_order(session, arg.order_id)
                recorded = await stock.find_event(session, arg.order_id, _RETURNED)
                if recorded is not None:
                    return _returned(arg.order_id, recorded.event_data)
                held = {
                    row.product_id: row
                    for row in await stock.reservations_of(session, arg.order_id, lock=True)
                }
                now = utc_now()
                given: dict[str, int] = {}
                for line in arg.lines:
                    row = held.get(line.product_id)
                    if row is None or row.status == RESERVATION_RELEASED:
                        continue  # never held by this order: nothing of it to put back
                    quantity = min(line.quantity, row.quantity)
                    given[line.product_id] = given.get(line.product_id, 0) + quantity
                    # A confirmed order's units stay reserved (sold); returning frees them.
                    await stock.give_back(session, line.product_id, quantity)
                    if quantity == row.quantity:
                        row.status = RESERVATION_RELEASED
                        row.released_at = now
                    else:
                        row.quantity -= quantity
                # What really went back, not what was asked for: consumers count stock by it.
                items = tuple(EventItem(product, quantity) for product, quantity in given.items())
                event = InventoryReturned(order_id=arg.order_id, items=items)
                await append_events(session, [event], occurred_at=now)
            log.info("returned %d lines to stock", len(given))
            return ReturnStockResult(order_id=arg.order_id, returned=given)


def _returned(order_id: str, recorded: dict[str, Any]) -> ReturnStockResult:
    """The answer a first run gave, from its InventoryReturned event."""
    returned = {item["product_id"]: int(item["quantity"]) for item in recorded.get("items", [])}
    return ReturnStockResult(order_id=order_id, returned=returned)


async def _recorded(session: AsyncSession, arg: RefundMoneyInput) -> RefundMoneyResult | None:
    found = await stock.find_event(session, arg.order_id, _REFUNDED)
    if found is None:
        return None
    data = found.event_data
    return RefundMoneyResult(
        order_id=arg.order_id,
        amount=data["amount"],
        currency=data["currency"],
        refund_reference=data.get("refund_reference"),
    )


def _refundable(order_id: str, order: OrderRow | None, payment: PaymentRow | None) -> str:
    """The captured charge of a CONFIRMED order; anything else is refused for good."""
    if order is None or order.status != OrderStatus.CONFIRMED:
        status = "not recorded" if order is None else order.status
        raise business_error(
            f"order {order_id} is {status}, not CONFIRMED: not refunded", WRONG_ORDER_STATUS
        )
    if payment is None or payment.status != PaymentStatus.CAPTURED:
        status = "no payment" if payment is None else f"payment {payment.status}"
        raise business_error(f"order {order_id} has {status}: not refunded", WRONG_ORDER_STATUS)
    if payment.gateway_reference is None:
        raise business_error(f"payment {payment.id} has no provider reference", WRONG_ORDER_STATUS)
    return payment.gateway_reference
