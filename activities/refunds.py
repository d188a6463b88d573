"""After-sale refund activities: give a confirmed order's money back, return its goods.

Like the saga's payment steps, the provider is called outside any transaction and is
idempotent by key (``refund-<order_id>``: one after-sale refund per order); the answer is
recorded with the order's move to REFUNDED and its events in one transaction, so a retry
whose recording was lost meets the same refund at the provider, never a second one.
"""

from __future__ import annotations

import logging
from typing import Any

from activities.recording import WRONG_ORDER_STATUS, business_error
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
    Order,
    OrderRefunded,
    OrderStatus,
    PaymentStatus,
)
from models.actor import Actor
from persistence import orders, payments, returns
from persistence.batch import Batch
from persistence.clock import utc_now
from persistence.payments import Charged
from persistence.recorded import find_event
from persistence.unit import Session, Sessions, reading, transaction
from telemetry.context import order_context

__all__ = ["RefundPayments", "StockReturns"]

log = logging.getLogger(__name__)

_REFUNDED = OrderRefunded.__name__
_RETURNED = InventoryReturned.__name__


class RefundPayments(contract.RefundPayments):
    def __init__(self, sessions: Sessions, gateway: PaymentGateway) -> None:
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
            async with reading(self._sessions) as session:
                known = await payments.load_for_charge(session, arg.order_id)
                done = await _recorded(session, arg)
                if done is not None:
                    return done
                reference = _refundable(arg.order_id, known.order, known.recorded)
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
            async with transaction(self._sessions) as session:
                # Order first, then payment, as every payment writer locks them.
                order = await orders.load_stored(session, arg.order_id)
                recorded = await payments.load(session, arg.order_id, lock=True)
                done = await _recorded(session, arg)
                if done is not None:
                    return done
                _refundable(arg.order_id, order, recorded)
                assert order is not None
                assert recorded is not None
                items = (EventItem(line.product_id, line.quantity) for line in arg.lines)
                events = [
                    recorded.payment.refund(amount),
                    order.refund(
                        amount,
                        items,
                        reason=arg.reason,
                        actor=arg.actor,
                        refund_reference=charge.refund_reference,
                    ),
                ]
                batch = Batch(session)
                payments.refunded(batch, recorded.payment, refund_reference=charge.refund_reference)
                orders.update_status(batch, order)
                # The operator who asked, through a verified token (POST /orders/{id}/refund,
                # which only the operator role may call).
                asker = Actor(kind="user", subject=arg.actor, role=arg.actor_role)
                batch.add_events(events, utc_now(), actor=asker)
                await batch.send()
            log.info("order %s refunded %s (%s)", arg.order_id, amount, charge.refund_reference)
            return RefundMoneyResult(
                order_id=arg.order_id,
                amount=amount.amount,
                currency=amount.currency,
                refund_reference=charge.refund_reference,
            )


class StockReturns(contract.StockReturns):
    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @implements(contract.StockReturns.return_stock)
    async def return_stock(self, arg: ReturnStockInput) -> ReturnStockResult:
        """Put the returned lines back in stock once (InventoryReturned marks it done)."""
        with order_context(arg.order_id):
            async with transaction(self._sessions) as session:
                await orders.lock(session, arg.order_id)
                recorded = await find_event(session, arg.order_id, _RETURNED)
                if recorded is not None:
                    return _returned(arg.order_id, recorded.event_data)
                batch = Batch(session)
                lines = [(line.product_id, line.quantity) for line in arg.lines]
                given = await returns.return_lines(session, batch, arg.order_id, lines)
                # What really went back, not what was asked for: consumers count stock by it.
                items = tuple(EventItem(product, quantity) for product, quantity in given.items())
                event = InventoryReturned(order_id=arg.order_id, items=items)
                batch.add_events([event], utc_now())
                await batch.send()
            log.info("returned %d lines to stock", len(given))
            return ReturnStockResult(order_id=arg.order_id, returned=given)


def _returned(order_id: str, recorded: dict[str, Any]) -> ReturnStockResult:
    """The answer a first run gave, from its InventoryReturned event."""
    returned = {item["product_id"]: int(item["quantity"]) for item in recorded.get("items", [])}
    return ReturnStockResult(order_id=order_id, returned=returned)


async def _recorded(session: Session, arg: RefundMoneyInput) -> RefundMoneyResult | None:
    found = await find_event(session, arg.order_id, _REFUNDED)
    if found is None:
        return None
    data = found.event_data
    return RefundMoneyResult(
        order_id=arg.order_id,
        amount=data["amount"],
        currency=data["currency"],
        refund_reference=data.get("refund_reference"),
    )


def _refundable(order_id: str, order: Order | None, recorded: Charged | None) -> str:
    """The captured charge of a CONFIRMED order; anything else is refused for good."""
    if order is None or order.status is not OrderStatus.CONFIRMED:
        status = "not recorded" if order is None else order.status
        raise business_error(
            f"order {order_id} is {status}, not CONFIRMED: not refunded", WRONG_ORDER_STATUS
        )
    payment = None if recorded is None else recorded.payment
    if recorded is None or payment is None or payment.status is not PaymentStatus.CAPTURED:
        status = "no payment" if payment is None else f"payment {payment.status}"
        raise business_error(f"order {order_id} has {status}: not refunded", WRONG_ORDER_STATUS)
    if recorded.gateway_reference is None:
        raise business_error(f"payment {payment.id} has no provider reference", WRONG_ORDER_STATUS)
    return recorded.gateway_reference
