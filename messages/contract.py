"""The activity contract: every activity's name, input and result, and the queue it runs on.

Pure (no I/O): the workflows call activities through these definitions
(``workflow.execute_activity_method(Inventory.reserve_inventory, …)``) without importing
their implementations, and each implementation in ``activities/`` subclasses its contract
and binds with ``@implements(...)``, so the name is written once, here, and mypy checks
every implementation's signature against it (an override must stay compatible).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity

from messages import queues
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
from messages.refund import RefundMoneyInput, RefundMoneyResult, ReturnStockInput, ReturnStockResult
from messages.restock import AlertLowStockInput, RestockInventoryInput, RestockResult
from messages.sdk_private import activity_definition

__all__ = [
    "QUEUE_CONTRACTS",
    "Inventory",
    "Notifications",
    "OrderStatusRecords",
    "Payments",
    "RefundPayments",
    "StockReturns",
    "activity_name",
    "contract_activities",
    "implements",
]

FnT = TypeVar("FnT", bound=Callable[..., Awaitable[Any]])


def activity_name(method: Callable[..., Any]) -> str:
    """The registered name of a contract (or implementation) activity method."""
    definition = activity_definition(method)
    if definition is None:
        raise TypeError(f"{method!r} is not an activity (no @activity.defn)")
    if definition.name is None:
        raise TypeError(f"{method!r} is a dynamic activity; the contract names every one")
    return definition.name


def implements(contract_method: Callable[..., Awaitable[Any]]) -> Callable[[FnT], FnT]:
    """Bind an implementation method to its contract: the same activity name, written once."""
    return activity.defn(name=activity_name(contract_method))


class Inventory(ABC):
    @activity.defn(name="reserve_inventory")
    @abstractmethod
    async def reserve_inventory(self, arg: ReserveInventoryInput) -> ReservationResult: ...

    @activity.defn(name="release_inventory")
    @abstractmethod
    async def release_inventory(self, arg: ReleaseInventoryInput) -> ReleaseResult: ...

    @activity.defn(name="restock_inventory")
    @abstractmethod
    async def restock_inventory(self, arg: RestockInventoryInput) -> RestockResult: ...


class StockReturns(ABC):
    @activity.defn(name="return_stock")
    @abstractmethod
    async def return_stock(self, arg: ReturnStockInput) -> ReturnStockResult: ...


class Payments(ABC):
    @activity.defn(name="charge_payment")
    @abstractmethod
    async def charge_payment(self, arg: ChargePaymentInput) -> PaymentResult: ...

    @activity.defn(name="capture_payment")
    @abstractmethod
    async def capture_payment(self, arg: CapturePaymentInput) -> PaymentResult: ...

    @activity.defn(name="refund_payment")
    @abstractmethod
    async def refund_payment(self, arg: RefundPaymentInput) -> RefundResult: ...

    @activity.defn(name="record_payment_outcome")
    @abstractmethod
    async def record_payment_outcome(self, arg: RecordPaymentOutcomeInput) -> PaymentResult: ...


class RefundPayments(ABC):
    @activity.defn(name="refund_order_payment")
    @abstractmethod
    async def refund_order_payment(self, arg: RefundMoneyInput) -> RefundMoneyResult: ...


class Notifications(ABC):
    @activity.defn(name="conclude_order")
    @abstractmethod
    async def conclude_order(self, arg: NotifyCustomerInput) -> NotificationResult:
        """Records the order's final status with its notice, then sends the notice."""

    # The step's name before ``conclude_order``: sagas started earlier schedule it, and the
    # refund workflow's notice (which concludes no order) still does.
    @activity.defn(name="notify_customer")
    @abstractmethod
    async def notify_customer(self, arg: NotifyCustomerInput) -> NotificationResult: ...

    @activity.defn(name="alert_low_stock")
    @abstractmethod
    async def alert_low_stock(self, arg: AlertLowStockInput) -> NotificationResult: ...


class OrderStatusRecords(ABC):
    @activity.defn(name="record_order_status")
    @abstractmethod
    async def record_order_status(self, arg: RecordOrderStatusInput) -> OrderStatusResult: ...


# Which activities each worker pool serves: the one place that decides it. The workflows
# name the queue of each call from the same table (``TaskQueues`` maps a logical queue to
# the deployment's prefixed name).
QUEUE_CONTRACTS: dict[str, tuple[type[ABC], ...]] = {
    queues.INVENTORY: (Inventory, StockReturns),
    queues.PAYMENTS: (Payments, RefundPayments),
    queues.NOTIFICATIONS: (Notifications, OrderStatusRecords),
}


def contract_activities(contract: type[ABC]) -> dict[str, Callable[..., Any]]:
    """A contract's activity methods by attribute name (each carries its definition)."""
    return {
        attribute: value
        for attribute, value in vars(contract).items()
        if activity_definition(value) is not None
    }
