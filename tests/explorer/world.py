"""The explorer's world: every activity of the contract, faked in memory on the real ports.

Each fake keeps the promises its real twin keeps (activities/): idempotent per order and
step, the order's moves checked by the domain's own transition table, a state change and
its event committed together, the provider keyed per order like a real one. On top, each
call follows the order's ``Schedule``: its attempts fail, lose their reply, break or land
late as scripted, and outside acts (an operator, Temporal, the customer, webhooks) happen
at the scripted points. What the world ends with is what the invariants are checked on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from messages import contract, errors
from messages.activities import (
    CapturePaymentInput,
    ChargePaymentInput,
    NotificationResult,
    NotifyCustomerInput,
    OrderStatusResult,
    PaymentResult,
    RecordOrderStatusInput,
    RecordPaymentOutcomeInput,
    RefundPaymentInput,
    RefundResult,
    ReleaseInventoryInput,
    ReleaseResult,
    ReservationResult,
    ReserveInventoryInput,
)
from messages.contract import implements
from messages.queues import order_workflow_id
from messages.refund import RefundMoneyInput, RefundMoneyResult, ReturnStockInput, ReturnStockResult
from messages.restock import AlertLowStockInput, RestockInventoryInput, RestockResult
from messages.saga import CancelRequest, OrderSnapshot, PaymentOutcome, RetryRequest
from messages.sdk_private import activity_definition
from models.invariants import Money
from models.notification import NotificationType
from models.order_status import OrderStatus, transition
from models.payment import PaymentStatus
from tests.explorer.schedules import Act, Attempt, Hook, Schedule

__all__ = ["OrderWorld", "World"]

log = logging.getLogger(__name__)

_CONCLUDING_EVENT = {
    OrderStatus.CONFIRMED: "OrderConfirmed",
    OrderStatus.REJECTED: "OrderRejected",
    OrderStatus.CANCELLED: "OrderCancelled",
}


class UnavailableError(Exception):
    """Infrastructure trouble: an ordinary, retryable activity failure."""


def _business(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@dataclass
class Charge:
    """The provider's side of one charge (a PaymentIntent)."""

    reference: str
    amount: Decimal
    status: str  # REQUIRES_ACTION, AUTHORIZED, CAPTURED, REFUNDED, VOIDED
    refunded: Decimal = Decimal("0")
    taken: bool = False


@dataclass
class OrderWorld:
    snapshot: OrderSnapshot
    schedule: Schedule
    # The read model (orders row); None until a step records the order.
    status: OrderStatus | None = None
    held: int = 0
    reservation: str | None = None  # None, "held", "released", "refused"
    payment: PaymentStatus | None = None
    payment_reference: str | None = None
    events: list[str] = field(default_factory=list)
    notices: dict[str, NotificationType] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    # Attempts that went LATE: their work, to run when a LAND act comes.
    late: list[Callable[[OrderWorld], Awaitable[Any]]] = field(default_factory=list)
    charge: Charge | None = None
    refund_charge_key: str | None = None
    after_sale_refunded: Decimal = Decimal("0")
    units_returned: int = 0
    returned: bool = False
    webhooks: list[tuple[str, PaymentOutcome]] = field(default_factory=list)
    held_webhooks: list[tuple[str, PaymentOutcome]] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    @property
    def order_id(self) -> str:
        return self.snapshot.order_id

    def money(self) -> Money:
        charge = self.charge
        if charge is None:
            return Money()
        return Money(
            captured=charge.amount if charge.taken else Decimal("0"),
            refunded=charge.refunded,
            authorized=charge.amount if charge.status == "AUTHORIZED" else Decimal("0"),
            open_intents=1 if charge.status == "REQUIRES_ACTION" else 0,
            charges_taken=1 if charge.taken else 0,
        )

    def move(self, target: OrderStatus) -> None:
        """The order's move as the real activities make it: the domain decides."""
        if self.status is None:
            raise _business(f"order {self.order_id} is not recorded", errors.WRONG_ORDER_STATUS)
        if self.status is not target:
            try:
                self.status = transition(self.status, target)
            except Exception as illegal:
                raise _business(str(illegal), errors.ILLEGAL_TRANSITION) from illegal

    def record(self) -> None:
        if self.status is None:
            self.status = OrderStatus.PENDING
            self.events.append("OrderCreated")


class World:
    """Every order of one exploration run, and the client the outside acts go through."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.orders: dict[str, OrderWorld] = {}

    def add(self, snapshot: OrderSnapshot, schedule: Schedule) -> OrderWorld:
        world = OrderWorld(snapshot, schedule)
        self.orders[snapshot.order_id] = world
        return world

    async def step(
        self, order_id: str, name: str, work: Callable[[OrderWorld], Awaitable[Any]]
    ) -> Any:
        """One attempt of activity ``name`` for ``order_id``, as its schedule has it."""
        world = self.orders[order_id]
        call = world.calls[name]
        world.calls[name] += 1
        script = world.schedule.script(name)
        attempt = script[call] if call < len(script) else Attempt.OK
        world.trace.append(f"{name}#{call}:{attempt}")
        await self._acts(world, Hook(name, call))
        if attempt is Attempt.FAIL:
            raise UnavailableError(f"{name}: unavailable (scripted)")
        if attempt is Attempt.BROKEN:
            raise _business(f"{name}: broken (scripted)", "Unexpected")
        if attempt is Attempt.LATE:
            world.late.append(work)
            raise UnavailableError(f"{name}: no answer (scripted; lands later)")
        result = await work(world)
        await self._acts(world, Hook(name, call, after=True))
        if attempt is Attempt.LOST:
            raise UnavailableError(f"{name}: reply lost (scripted)")
        return result

    async def _acts(self, world: OrderWorld, hook: Hook) -> None:
        for act in world.schedule.acts_at(hook):
            world.trace.append(f"{act}@{hook}")
            try:
                await self._act(world, act)
            except Exception as refused:
                world.trace.append(f"  -> {type(refused).__name__}: {str(refused)[:80]}")

    async def _act(self, world: OrderWorld, act: Act) -> None:
        handle = self.client.get_workflow_handle(order_workflow_id(world.order_id))
        request = CancelRequest(reason="explored", operator="explorer")
        if act is Act.CANCEL:
            await handle.signal("cancel", request)
        elif act is Act.CANCEL_UPDATE:
            # Its handler answers at once, accepted or refused: the answer is part of the story.
            answer = await handle.execute_update("request_cancel", request)
            world.trace.append(f"  -> {answer}")
        elif act is Act.RETRY:
            await handle.signal("retry", RetryRequest(operator="explorer"))
        elif act is Act.RETRY_UPDATE:
            answer = await handle.execute_update("retry", RetryRequest(operator="explorer"))
            world.trace.append(f"  -> {answer}")
        elif act is Act.TEMPORAL_CANCEL:
            await handle.cancel()
        elif act is Act.LAND:
            landing, world.late = world.late, []
            for work in landing:
                try:
                    await work(world)
                    world.trace.append("  landed")
                except ApplicationError as refused:
                    world.trace.append(f"  landed and refused: {refused.message[:80]}")
        else:
            await self._customer(world, act, handle)

    async def _customer(self, world: OrderWorld, act: Act, handle: Any) -> None:
        charge = world.charge
        if act is Act.DELIVER_HELD:
            held, world.held_webhooks = world.held_webhooks, []
            for name, outcome in held:
                await self._webhook(world, handle, name, outcome)
            return
        if act is Act.DUPLICATE_WEBHOOK:
            if world.webhooks:
                name, outcome = world.webhooks[-1]
                await self._webhook(world, handle, name, outcome)
            return
        if act is Act.FOREIGN_WEBHOOK:
            outcome = PaymentOutcome(
                provider_event_id=f"evt-foreign-{len(world.webhooks)}", reference="pi_foreign"
            )
            await self._webhook(world, handle, "payment_succeeded", outcome)
            return
        if charge is None or charge.status != "REQUIRES_ACTION":
            return  # nothing waits for the customer
        event_id = f"evt-{world.order_id}-{len(world.webhooks) + len(world.held_webhooks)}"
        if act is Act.CUSTOMER_FAILS:
            outcome = PaymentOutcome(
                provider_event_id=event_id, reference=charge.reference, reason="3ds failed"
            )
            await self._webhook(world, handle, "payment_failed", outcome)
            return
        capture = not world.schedule.authorize_capture
        charge.status = "CAPTURED" if capture else "AUTHORIZED"
        charge.taken = charge.taken or capture
        world.trace.append(f"  provider: {charge.reference} {charge.status}")
        outcome = PaymentOutcome(provider_event_id=event_id, reference=charge.reference)
        if act is Act.CUSTOMER_PAYS_SILENTLY:
            world.held_webhooks.append(("payment_succeeded", outcome))
        else:
            await self._webhook(world, handle, "payment_succeeded", outcome)

    async def _webhook(
        self, world: OrderWorld, handle: Any, name: str, outcome: PaymentOutcome
    ) -> None:
        world.webhooks.append((name, outcome))
        await handle.signal(name, outcome)

    def activities(self) -> list[Callable[..., Any]]:
        fakes = (
            FakeInventory(self),
            FakePayments(self),
            FakeNotifications(self),
            FakeStatusRecords(self),
            FakeRefundPayments(self),
            FakeStockReturns(self),
        )
        return [
            method
            for fake in fakes
            for name in dir(fake)
            if activity_definition(method := getattr(fake, name)) is not None
        ]


class _Fake:
    def __init__(self, world: World) -> None:
        self.world = world


class FakeInventory(_Fake, contract.Inventory):
    @implements(contract.Inventory.reserve_inventory)
    async def reserve_inventory(self, arg: ReserveInventoryInput) -> ReservationResult:
        async def work(order: OrderWorld) -> ReservationResult:
            order.record()
            if order.reservation == "refused":
                raise _business("out of stock (recorded)", errors.OUT_OF_STOCK)
            if order.reservation is not None:
                return ReservationResult(order_id=order.order_id)
            if order.schedule.short_of_stock:
                order.reservation = "refused"
                order.events.append("InventoryReservationFailed")
                raise _business("sku-1: short of stock", errors.OUT_OF_STOCK)
            if order.status not in (OrderStatus.PENDING, OrderStatus.NEEDS_ATTENTION):
                raise _business(
                    f"order is {order.status}; nothing reserved", errors.WRONG_ORDER_STATUS
                )
            order.move(OrderStatus.RESERVED)
            order.held = order.schedule.units
            order.reservation = "held"
            order.events.append("InventoryReserved")
            return ReservationResult(order_id=order.order_id, reserved={"sku-1": order.held})

        result: ReservationResult = await self.world.step(
            arg.order.order_id, "reserve_inventory", work
        )
        return result

    @implements(contract.Inventory.release_inventory)
    async def release_inventory(self, arg: ReleaseInventoryInput) -> ReleaseResult:
        async def work(order: OrderWorld) -> ReleaseResult:
            if order.reservation == "held" and order.held:
                released, order.held = order.held, 0
                order.reservation = "released"
                order.events.append("InventoryReleased")
                return ReleaseResult(order_id=order.order_id, released={"sku-1": released})
            return ReleaseResult(order_id=order.order_id)

        result: ReleaseResult = await self.world.step(arg.order_id, "release_inventory", work)
        return result

    @implements(contract.Inventory.restock_inventory)
    async def restock_inventory(self, arg: RestockInventoryInput) -> RestockResult:
        return RestockResult(product_id=arg.product_id, quantity_on_hand=100, applied=True)


class FakePayments(_Fake, contract.Payments):
    @implements(contract.Payments.charge_payment)
    async def charge_payment(self, arg: ChargePaymentInput) -> PaymentResult:
        async def work(order: OrderWorld) -> PaymentResult:
            if order.payment is PaymentStatus.VOIDED and order.charge is None:
                raise _business("the saga abandoned this charge", errors.WRONG_ORDER_STATUS)
            if order.payment is not None:
                return _answer(order)
            if order.status is not OrderStatus.RESERVED:
                raise _business(
                    f"order is {order.status}, not RESERVED: not charged",
                    errors.WRONG_ORDER_STATUS,
                )
            charge = order.charge or _provider_charge(order, capture=arg.capture)
            order.charge = charge
            if order.schedule.card == "declined":
                order.payment = PaymentStatus.FAILED
                order.events.append("PaymentFailed")
                return _answer(order)
            order.payment_reference = charge.reference
            if charge.status == "REQUIRES_ACTION":
                order.payment = PaymentStatus.PENDING
                order.move(OrderStatus.PAYMENT_PENDING)
                order.events.append("PaymentActionRequired")
            elif charge.status == "CAPTURED":
                order.payment = PaymentStatus.CAPTURED
                order.move(OrderStatus.PAID)
                order.events.append("PaymentProcessed")
            else:
                order.payment = PaymentStatus.AUTHORIZED
                order.events.append("PaymentProcessed")
            return _answer(order)

        result: PaymentResult = await self.world.step(arg.order_id, "charge_payment", work)
        return result

    @implements(contract.Payments.capture_payment)
    async def capture_payment(self, arg: CapturePaymentInput) -> PaymentResult:
        async def work(order: OrderWorld) -> PaymentResult:
            if order.payment not in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED):
                raise _business(
                    f"payment {order.payment}; nothing to capture", errors.WRONG_ORDER_STATUS
                )
            if order.payment is PaymentStatus.AUTHORIZED:
                charge = _charge_of(order)
                if charge.status == "AUTHORIZED":
                    charge.status, charge.taken = "CAPTURED", True
                order.payment = PaymentStatus.CAPTURED
                order.move(OrderStatus.PAID)
            return _answer(order)

        result: PaymentResult = await self.world.step(arg.order_id, "capture_payment", work)
        return result

    @implements(contract.Payments.record_payment_outcome)
    async def record_payment_outcome(self, arg: RecordPaymentOutcomeInput) -> PaymentResult:
        async def work(order: OrderWorld) -> PaymentResult:
            if order.payment_reference != arg.reference:
                raise _business("the report names another charge", errors.INVALID_ORDER)
            charge = _charge_of(order)
            if order.payment is not PaymentStatus.PENDING:
                return PaymentResult(
                    order_id=order.order_id,
                    payment_id=f"pay-{order.order_id}",
                    status=order.payment or PaymentStatus.FAILED,
                    gateway_reference=charge.reference,
                )
            if not arg.succeeded:
                # Closed at the provider first, so the customer cannot pay it afterwards;
                # had they paid meanwhile, the money goes back.
                _undo(charge)
                order.payment = PaymentStatus.FAILED
                order.events.append("PaymentFailed")
            elif charge.status in ("CAPTURED", "AUTHORIZED"):
                order.payment = PaymentStatus(charge.status)
                order.move(OrderStatus.PAID if arg.capture else OrderStatus.RESERVED)
                order.events.append("PaymentProcessed")
            else:
                raise UnavailableError("the provider does not show the payment yet")
            return PaymentResult(
                order_id=order.order_id,
                payment_id=f"pay-{order.order_id}",
                status=order.payment,
                gateway_reference=charge.reference,
            )

        result: PaymentResult = await self.world.step(arg.order_id, "record_payment_outcome", work)
        return result

    @implements(contract.Payments.refund_payment)
    async def refund_payment(self, arg: RefundPaymentInput) -> RefundResult:
        async def work(order: OrderWorld) -> RefundResult:
            charge = order.charge
            if charge is None:
                # The fence, as the real compensation writes it: an abandoned payment, so a
                # charge attempt the saga gave up on takes nothing when it lands later.
                if order.payment is None:
                    order.payment = PaymentStatus.VOIDED
                return RefundResult(order_id=order.order_id, outcome="NOTHING_TO_REFUND")
            # Whatever our record says, the provider's books decide what is undone.
            _undo(charge)
            if order.payment in (
                PaymentStatus.CAPTURED,
                PaymentStatus.AUTHORIZED,
                PaymentStatus.PENDING,
                None,
            ):
                order.payment = (
                    PaymentStatus.REFUNDED if charge.status == "REFUNDED" else PaymentStatus.VOIDED
                )
                order.events.append(
                    "PaymentRefunded" if charge.status == "REFUNDED" else "PaymentVoided"
                )
            outcome = {"REFUNDED": "REFUNDED", "VOIDED": "VOIDED"}.get(
                charge.status, "NOTHING_TO_REFUND"
            )
            return RefundResult(order_id=order.order_id, outcome=outcome)

        result: RefundResult = await self.world.step(arg.order_id, "refund_payment", work)
        return result


def _provider_charge(order: OrderWorld, *, capture: bool) -> Charge:
    amount = order.snapshot.total
    if order.schedule.card == "declined":
        return Charge(reference=f"ch-{order.order_id}", amount=amount, status="DECLINED")
    if order.schedule.card == "action":
        status = "REQUIRES_ACTION"
    else:
        status = "CAPTURED" if capture else "AUTHORIZED"
    return Charge(
        reference=f"ch-{order.order_id}", amount=amount, status=status, taken=status == "CAPTURED"
    )


def _charge_of(order: OrderWorld) -> Charge:
    if order.charge is None:
        raise _business("no charge at the provider", errors.WRONG_ORDER_STATUS)
    return order.charge


def _undo(charge: Charge) -> None:
    if charge.status == "CAPTURED":
        charge.status, charge.refunded = "REFUNDED", charge.amount
    elif charge.status in ("AUTHORIZED", "REQUIRES_ACTION"):
        charge.status = "VOIDED"


def _answer(order: OrderWorld) -> PaymentResult:
    if order.payment is PaymentStatus.FAILED:
        raise _business("card declined", errors.PAYMENT_DECLINED)
    assert order.payment is not None
    next_action = "https://pay.example/3ds" if order.payment is PaymentStatus.PENDING else None
    return PaymentResult(
        order_id=order.order_id,
        payment_id=f"pay-{order.order_id}",
        status=order.payment,
        gateway_reference=order.payment_reference,
        next_action=next_action,
    )


class FakeNotifications(_Fake, contract.Notifications):
    @implements(contract.Notifications.conclude_order)
    async def conclude_order(self, arg: NotifyCustomerInput) -> NotificationResult:
        result: NotificationResult = await self.world.step(
            arg.order.order_id, "conclude_order", lambda order: _conclude(order, arg)
        )
        return result

    @implements(contract.Notifications.notify_customer)
    async def notify_customer(self, arg: NotifyCustomerInput) -> NotificationResult:
        result: NotificationResult = await self.world.step(
            arg.order.order_id, "notify_customer", lambda order: _conclude(order, arg)
        )
        return result

    @implements(contract.Notifications.alert_low_stock)
    async def alert_low_stock(self, arg: AlertLowStockInput) -> NotificationResult:
        del arg  # no order of the explorer's runs low: the saga starts no restock
        return NotificationResult(order_id="-", notification_id="alert", status="SENT")


async def _conclude(order: OrderWorld, arg: NotifyCustomerInput) -> NotificationResult:
    """The outcome and its notice in one commit, then the notice sent once per type."""
    kind = NotificationType(arg.notification_type)
    notice_id = f"{order.order_id}:{kind}"
    if notice_id not in order.notices and arg.conclude_status is not None:
        order.record()
        target = OrderStatus(arg.conclude_status)
        if order.status is not target:
            order.move(target)
            if target is not OrderStatus.CONFIRMED and order.held:
                # Like the real conclusion: a late reservation goes back with the ending.
                order.held, order.reservation = 0, "released"
                order.events.append("InventoryReleased")
            if target in _CONCLUDING_EVENT:
                order.events.append(_CONCLUDING_EVENT[target])
            elif target is OrderStatus.PAYMENT_FAILED and "PaymentFailed" not in order.events:
                order.events.append("PaymentFailed")
    order.notices[notice_id] = kind
    return NotificationResult(order_id=order.order_id, notification_id=notice_id, status="SENT")


class FakeStatusRecords(_Fake, contract.OrderStatusRecords):
    @implements(contract.OrderStatusRecords.record_order_status)
    async def record_order_status(self, arg: RecordOrderStatusInput) -> OrderStatusResult:
        async def work(order: OrderWorld) -> OrderStatusResult:
            order.record()
            target = OrderStatus(arg.status)
            if order.status is not target:
                if target is OrderStatus.NEEDS_ATTENTION:
                    order.move(target)
                    order.events.append("OrderNeedsAttention")
                elif order.status is OrderStatus.NEEDS_ATTENTION:
                    order.move(target)
                    order.events.append("OrderRetried")
                # Else the park was never recorded: the row already is where the saga is.
            assert order.status is not None
            return OrderStatusResult(order_id=order.order_id, status=order.status)

        result: OrderStatusResult = await self.world.step(
            arg.order.order_id, "record_order_status", work
        )
        return result


class FakeRefundPayments(_Fake, contract.RefundPayments):
    @implements(contract.RefundPayments.refund_order_payment)
    async def refund_order_payment(self, arg: RefundMoneyInput) -> RefundMoneyResult:
        async def work(order: OrderWorld) -> RefundMoneyResult:
            done = RefundMoneyResult(
                order_id=order.order_id,
                amount=arg.amount,
                currency=arg.currency,
                refund_reference=f"re-{order.order_id}",
            )
            if order.status is OrderStatus.REFUNDED:
                return done
            if order.status is not OrderStatus.CONFIRMED:
                raise _business(f"order is {order.status}", errors.WRONG_ORDER_STATUS)
            charge = _charge_of(order)
            # One after-sale refund per order at the provider, whatever the key's age.
            if order.refund_charge_key is None:
                charge.refunded += arg.amount
                order.refund_charge_key = f"refund-{order.order_id}"
            order.after_sale_refunded = charge.refunded
            order.move(OrderStatus.REFUNDED)
            order.events += ["PaymentRefunded", "OrderRefunded"]
            return done

        result: RefundMoneyResult = await self.world.step(
            arg.order_id, "refund_order_payment", work
        )
        return result


class FakeStockReturns(_Fake, contract.StockReturns):
    @implements(contract.StockReturns.return_stock)
    async def return_stock(self, arg: ReturnStockInput) -> ReturnStockResult:
        async def work(order: OrderWorld) -> ReturnStockResult:
            if not order.returned:
                units = min(sum(line.quantity for line in arg.lines), order.held)
                order.held -= units
                order.units_returned += units
                order.returned = True
                order.events.append("InventoryReturned")
            return ReturnStockResult(
                order_id=order.order_id, returned={"sku-1": order.units_returned}
            )

        result: ReturnStockResult = await self.world.step(arg.order_id, "return_stock", work)
        return result
