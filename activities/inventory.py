"""Inventory activities: reserve an order's stock all-or-nothing, release it, restock.

Each is idempotent: a retry after a commit whose reply was lost finds what the first
attempt recorded (reservation rows, an InventoryReservationFailed or InventoryRestocked
event) and answers the same, instead of applying the change twice.
"""

from __future__ import annotations

import logging

from activities import stock
from activities.metrics import count_reservation_refused
from activities.recording import WRONG_ORDER_STATUS, business_error, place
from config.settings import RestockSettings
from messages import contract, errors
from messages.activities import (
    ReleaseInventoryInput,
    ReleaseResult,
    ReservationResult,
    ReserveInventoryInput,
)
from messages.contract import implements
from messages.restock import LowStock, RestockInventoryInput, RestockResult
from messages.saga import OrderSnapshot
from models import (
    IllegalTransitionError,
    InventoryItem,
    InventoryReservationFailed,
    OutOfStockError,
    UnknownProductError,
    reserve_all,
)
from models.actor import SYSTEM
from persistence import inventory, orders
from persistence.batch import Batch
from persistence.clock import utc_now
from persistence.recorded import recorded_failure, recorded_low_stock, recorded_restock
from persistence.unit import Session, Sessions, transaction
from telemetry.context import order_context

log = logging.getLogger(__name__)


class InventoryActivities(contract.Inventory):
    def __init__(self, sessions: Sessions, restock: RestockSettings) -> None:
        self._sessions = sessions
        self._restock = restock

    @implements(contract.Inventory.reserve_inventory)
    async def reserve_inventory(self, arg: ReserveInventoryInput) -> ReservationResult:
        """Record the order if needed and reserve every line, or none.

        Out of stock: InventoryReservationFailed is committed and OUT_OF_STOCK raised, also
        by every retry. A product without stock: UNKNOWN_PRODUCT, nothing written.
        """
        order = arg.order
        with order_context(order.order_id):
            try:
                return await self._reserve(order)
            except OutOfStockError as refused:
                return await self._refuse(order, refused)
            except UnknownProductError as unknown:
                count_reservation_refused("unknown_product")
                raise business_error(str(unknown), errors.UNKNOWN_PRODUCT) from unknown

    async def _reserve(self, snapshot: OrderSnapshot) -> ReservationResult:
        order_id = snapshot.order_id
        placed, created = place(snapshot)
        async with transaction(self._sessions) as session:
            # Locks the order: attempts for one order take turns from here.
            order = await orders.load(session, placed)
            if order is not None:
                recorded = await self._recorded(session, order_id)
                if recorded is not None:
                    return recorded
            try:
                (order or placed).mark_reserved()
            except IllegalTransitionError as illegal:
                raise business_error(
                    f"order {order_id} is {illegal.current}; nothing reserved", WRONG_ORDER_STATUS
                ) from illegal
            # Product order: two orders locking the same rows in one order cannot deadlock.
            plan = sorted(placed.quantities)
            before: dict[str, InventoryItem] = {}
            for product_id, quantity in plan:
                item = await inventory.take(session, product_id, quantity)
                if item is None:
                    # Leaving the block rolls back every unit taken so far.
                    raise await inventory.shortfall(session, product_id, quantity)
                before[product_id] = item
            # The units are already held in SQL; the domain, replayed on the stock as it was,
            # says which products this crossed under their reorder point.
            reservation = reserve_all(before, plan, order_id=order_id)
            batch = Batch(session)
            if order is None:
                # First to record the order (two first attempts racing: the primary key
                # fails the later one, whose retry finds this one's record).
                orders.add(batch, placed, placed_at=snapshot.placed_at)
                batch.add_events([created], snapshot.placed_at, actor=snapshot.placed_by or SYSTEM)
            else:
                orders.update_status(batch, order)
            inventory.add_reservations(batch, order_id, plan)
            batch.add_events(reservation.events, utc_now())
            await batch.send()
        log.info("reserved %s", dict(plan))
        return self._result(
            order_id, dict(plan), [stock.low_stock_of(low) for low in reservation.low_stock]
        )

    async def _refuse(self, snapshot: OrderSnapshot, refused: OutOfStockError) -> ReservationResult:
        placed, created = place(snapshot)
        async with transaction(self._sessions) as session:
            order = await orders.load(session, placed)
            batch = Batch(session)
            if order is None:
                orders.add(batch, placed, placed_at=snapshot.placed_at)
                batch.add_events([created], snapshot.placed_at, actor=snapshot.placed_by or SYSTEM)
            else:
                # A concurrent attempt may have reserved (or refused) in the meantime.
                recorded = await self._recorded(session, snapshot.order_id)
                if recorded is not None:
                    return recorded
            failed = InventoryReservationFailed(
                order_id=snapshot.order_id,
                product_id=refused.product_id,
                requested=refused.requested,
                available=refused.available,
            )
            batch.add_events([failed], utc_now())
            await batch.send()
        count_reservation_refused("out_of_stock")
        log.info("refused: %s", refused)
        raise business_error(str(refused), errors.OUT_OF_STOCK)

    async def _recorded(self, session: Session, order_id: str) -> ReservationResult | None:
        """What an earlier attempt did: its result, its refusal raised again, or None."""
        lines = await inventory.reserved_lines(session, order_id)
        if lines:
            low = await recorded_low_stock(session, order_id, list(lines))
            return self._result(order_id, lines, [stock.low_stock_of(event) for event in low])
        refused = await recorded_failure(session, order_id)
        if refused is not None:
            raise business_error(str(refused), errors.OUT_OF_STOCK)
        return None

    def _result(
        self, order_id: str, reserved: dict[str, int], low_stock: list[LowStock]
    ) -> ReservationResult:
        # A product with nothing to reorder still got its LowStockDetected event, but a
        # restock of zero units is not a restock.
        restocks = [
            stock.restock_input(
                low,
                lead_time_seconds=self._restock.lead_time_seconds,
                admin_email=self._restock.admin_email,
            )
            for low in low_stock
            if low.reorder_quantity > 0
        ]
        return ReservationResult(order_id=order_id, reserved=reserved, restocks_needed=restocks)

    @implements(contract.Inventory.release_inventory)
    async def release_inventory(self, arg: ReleaseInventoryInput) -> ReleaseResult:
        """Give back what the order holds, once; an order holding nothing is a no-op."""
        with order_context(arg.order_id):
            async with transaction(self._sessions) as session:
                # Takes turns with a reservation attempt of the same order.
                await orders.lock(session, arg.order_id)
                lines = await inventory.holdings(session, arg.order_id)
                if not any(line.held for line in lines):
                    # Released before (a retry) or never reserved: report what was released.
                    released = {line.product_id: line.quantity for line in lines}
                    return ReleaseResult(order_id=arg.order_id, released=released)
                batch = Batch(session)
                released = await inventory.release_held(session, batch, arg.order_id, lines)
                await batch.send()
            log.info("released %d lines (%s)", len(released), arg.reason)
            return ReleaseResult(order_id=arg.order_id, released=released)

    @implements(contract.Inventory.restock_inventory)
    async def restock_inventory(self, arg: RestockInventoryInput) -> RestockResult:
        """Add the delivered units once per ``restock_id``; a retry answers as the first did."""
        async with transaction(self._sessions) as session:
            # The lock makes two attempts of one restock take turns at the check below.
            item = await inventory.load_item(session, arg.product_id)
            if item is None:
                raise business_error(f"unknown product: {arg.product_id}", errors.UNKNOWN_PRODUCT)
            on_hand = await recorded_restock(session, arg.product_id, arg.restock_id)
            if on_hand is not None:
                return RestockResult(
                    product_id=arg.product_id, quantity_on_hand=on_hand, applied=True
                )
            restocked = item.restock(arg.quantity, restock_id=arg.restock_id)
            batch = Batch(session)
            inventory.update_quantity(batch, item)
            batch.add_events([restocked], utc_now())
            await batch.send()
        log.info("restocked %s: +%d, %d on hand", arg.product_id, arg.quantity, item.quantity)
        return RestockResult(
            product_id=arg.product_id, quantity_on_hand=item.quantity, applied=True
        )
