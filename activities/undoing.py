"""Undoing a charge at the provider: what a compensation or a late attempt gives back,
chosen from what the provider holds (a capture is refunded, a hold or a charge waiting for
the customer voided)."""

from __future__ import annotations

from gateways.payment_gateway import (
    ChargeStatus,
    GatewayCharge,
    GatewayRequestError,
    PaymentGateway,
)
from persistence import payments
from persistence.payments import Charged

__all__ = ["abandon", "reference", "release", "undo"]


def reference(recorded: Charged) -> str:
    if recorded.gateway_reference is None:
        payment = recorded.payment
        raise RuntimeError(f"payment {payment.id} is {payment.status} but has no gateway reference")
    return recorded.gateway_reference


async def release(gateway: PaymentGateway, recorded: Charged) -> GatewayCharge:
    """Undo what the provider holds for a payment recorded AUTHORIZED: it may hold more
    (a capture whose record was lost), which a void would be refused for on every
    retry. Asked first, since a refused void says nothing about what to do instead."""
    order_id = recorded.payment.order_id
    found = await gateway.find_charge(payments.idempotency_key(order_id))
    if found is None or found.reference != recorded.gateway_reference:
        return await gateway.void(reference(recorded))
    return await undo(gateway, found)


async def abandon(gateway: PaymentGateway, recorded: Charged) -> GatewayCharge:
    """Void a charge waiting for the customer; if they completed it meanwhile, undo that."""
    try:
        return await gateway.void(reference(recorded))
    except GatewayRequestError:
        order_id = recorded.payment.order_id
        found = await gateway.find_charge(payments.idempotency_key(order_id))
        if found is None:
            raise
        return await undo(gateway, found)


async def undo(gateway: PaymentGateway, charge: GatewayCharge) -> GatewayCharge:
    if charge.status is ChargeStatus.CAPTURED:
        return await gateway.refund(charge.reference)
    if charge.status in (ChargeStatus.AUTHORIZED, ChargeStatus.REQUIRES_ACTION):
        return await gateway.void(charge.reference)
    return charge  # already refunded or voided at the gateway
