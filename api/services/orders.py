"""Placing, reading, listing, cancelling and retrying orders: what the order routes call.

Writes go through the saga (Temporal); reads come from the read model, with the saga
answering for orders it has not recorded yet or whose record lags behind.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import read_model
from api.auth import Principal
from api.errors import (
    EmailRequiredError,
    InvalidCursorError,
    InvalidField,
    InvalidFieldsError,
    MaintenanceOnError,
    NotCancellableError,
    NotPermittedError,
    NotRetryableError,
    OrderNotFoundError,
)
from api.metrics import count_order_placed
from api.retry_schemas import RetryAccepted
from api.schemas import (
    ActorPublic,
    CancelAccepted,
    EventPublic,
    OrderCreate,
    OrderPublic,
    OrdersPage,
    OrderTimeline,
)
from api.services.catalog import CatalogCache
from api.services.idempotency import IdempotencyKeys, request_hash
from api.services.maintenance import MaintenanceSwitch
from api.services.order_views import (
    from_record,
    from_snapshot,
    parse_status,
    summary,
    with_live_status,
)
from api.services.pricing import check_limits, price_order
from api.services.workflows import (
    CancelRefusedError,
    OrderWorkflows,
    RetryRefusedError,
    SagaFinishedError,
)
from config.settings import Settings
from messages.queues import TaskQueues
from messages.saga import OrderSagaInput, OrderSnapshot, PaymentInfo, RetryRequest, SagaPolicy
from models.order_status import OrderStatus, is_terminal
from persistence.database import is_unavailable
from persistence.tables import utc_now


@dataclass(frozen=True)
class Placed:
    order: OrderPublic
    replayed: bool


class OrderService:
    def __init__(
        self,
        session: AsyncSession,
        temporal: Client,
        settings: Settings,
        queues: TaskQueues | None = None,
        catalog: CatalogCache | None = None,
        *,
        maintenance: MaintenanceSwitch | None = None,
    ) -> None:
        self._session = session
        self._settings = settings
        self._catalog = catalog or CatalogCache(0)
        self._maintenance = maintenance or MaintenanceSwitch(settings.api)
        self._queues = queues or TaskQueues()
        self._workflows = OrderWorkflows(temporal, self._queues)
        self._keys = IdempotencyKeys(session, timedelta(hours=settings.api.idempotency_ttl_hours))

    async def place(self, user: Principal, body: OrderCreate, key: str | None) -> Placed:
        check_limits(body, self._settings.api)
        email = notice_address(user, body.email)
        priced = await price_order(self._session, body, self._catalog)
        await self._session.commit()  # end any catalog read before the claim's writes
        order_id = str(uuid.uuid4())
        if key is not None:
            digest = request_hash(body.model_dump(mode="json"))
            claim = await self._keys.claim(user.subject, key, digest, order_id)
            if claim.replay:
                return Placed(await self.get(user, claim.order_id), replayed=True)
            order_id = claim.order_id
        try:
            # After the replay: an order placed before the switch went on still answers.
            await self._maintenance.refuse_new_orders(self._session)
        except MaintenanceOnError:
            if key is not None:
                await self._keys.abandon(user.subject, key)
            raise
        snapshot = OrderSnapshot(
            order_id=order_id,
            customer_id=user.subject,
            customer_email=email,
            currency=priced.currency,
            lines=priced.lines,
            payment=PaymentInfo(method=body.payment.method, token=body.payment.token),
            placed_at=utc_now(),
            placed_by=user.actor_on(user.subject),
        )
        saga = OrderSagaInput(
            order=snapshot,
            payment_flow=self._settings.payments.flow,
            queues=self._queues,
            policy=SagaPolicy(**self._settings.saga.model_dump()),
        )
        try:
            started = await self._workflows.start(saga)
        except Exception:
            if key is not None:
                await self._keys.abandon(user.subject, key)
            raise
        if key is not None:
            await self._keys.complete(user.subject, key, 202)
        if not started:  # a retry resumed an order whose saga was already running
            return Placed(await self.get(user, order_id), replayed=True)
        count_order_placed()
        return Placed(from_snapshot(snapshot, OrderStatus.PENDING, snapshot.placed_at), False)

    async def get(self, user: Principal, order_id: str) -> OrderPublic:
        try:
            record = await read_model.find_order(self._session, order_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # The database is down: the saga still knows the order and its progress.
            with contextlib.suppress(Exception):
                await self._session.rollback()
            return await self._from_saga(user, order_id)
        if record is not None:
            if not user.may_see(record.order.customer_id):
                raise OrderNotFoundError(order_id)
            view = from_record(record)
            await self._session.commit()  # release the connection while Temporal answers
            if is_terminal(view.status):
                return view
            return with_live_status(view, await self._workflows.status(order_id))
        await self._session.commit()
        return await self._from_saga(user, order_id)

    async def _from_saga(self, user: Principal, order_id: str) -> OrderPublic:
        """The order as its saga carries it: not recorded yet, or the database is away."""
        facts = await self._workflows.describe(order_id)
        if facts is None or not user.may_see(facts.customer_id):
            raise OrderNotFoundError(order_id)
        saga = await self._workflows.saga_input(order_id)
        if saga is None:
            raise OrderNotFoundError(order_id)
        status = parse_status(facts.status) or OrderStatus.PENDING
        view = from_snapshot(saga.order, status, saga.order.placed_at)
        return with_live_status(view, await self._workflows.status(order_id))

    async def list_orders(
        self,
        user: Principal,
        *,
        customer_id: str | None,
        status: OrderStatus | None,
        cursor: str | None,
        limit: int,
    ) -> OrdersPage:
        if not user.reads_every_order:
            if customer_id not in (None, user.subject):
                raise NotPermittedError("Customers can only list their own orders.")
            customer_id = user.subject
        after = None
        if cursor is not None:
            try:
                after = read_model.decode_cursor(cursor)
            except ValueError as exc:
                raise InvalidCursorError from exc
        rows = await read_model.list_orders(
            self._session,
            customer_id=customer_id,
            status=status.value if status is not None else None,
            after=after,
            limit=limit + 1,
        )
        page = rows[:limit]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = read_model.encode_cursor(page[-1].created_at, page[-1].id)
        return OrdersPage(data=[summary(row) for row in page], next_cursor=next_cursor)

    async def cancel(self, user: Principal, order_id: str, reason: str) -> CancelAccepted:
        facts = await self._workflows.describe(order_id)
        if facts is None:
            # No saga (or its history is gone): a recorded order is finished, else unknown.
            owner = await read_model.owner_of(self._session, order_id)
            if owner is None or not user.may_see(owner):
                raise OrderNotFoundError(order_id)
            raise NotCancellableError(order_id, "it is already finished")
        if not user.may_see(facts.customer_id):
            raise OrderNotFoundError(order_id)
        if not user.may_change(facts.customer_id):
            raise NotPermittedError("Only operators cancel another customer's order.")
        if not facts.running:
            raise NotCancellableError(order_id, f"it is already {facts.status or 'finished'}")
        actor = user.actor_on(facts.customer_id)
        try:
            outcome = await self._workflows.request_cancel(order_id, reason, actor)
        except CancelRefusedError as exc:
            raise NotCancellableError(order_id, str(exc)) from exc
        except SagaFinishedError as exc:
            raise NotCancellableError(order_id, "it is already finished") from exc
        status = parse_status(outcome.status) or OrderStatus.PENDING
        return CancelAccepted(order_id=order_id, status=status, detail=outcome.detail)

    async def retry(self, operator: Principal, order_id: str, note: str) -> RetryAccepted:
        """The saga's ``retry`` update, naming the caller's verified subject as operator."""
        facts = await self._workflows.describe(order_id)
        if facts is None:
            if await read_model.owner_of(self._session, order_id) is None:
                raise OrderNotFoundError(order_id)
            raise NotRetryableError(order_id, "it is already finished")
        if not facts.running:
            raise NotRetryableError(order_id, f"it is already {facts.status or 'finished'}")
        actor = operator.acting_as(operator.names.operator)
        request = RetryRequest(operator=operator.subject, note=note, actor=actor)
        try:
            outcome = await self._workflows.request_retry(order_id, request)
        except RetryRefusedError as exc:
            raise NotRetryableError(order_id, str(exc)) from exc
        except SagaFinishedError as exc:
            raise NotRetryableError(order_id, "it is already finished") from exc
        step = outcome.step.value if outcome.step is not None else None
        return RetryAccepted(
            order_id=order_id, status=outcome.status, step=step, detail=outcome.detail
        )

    async def timeline(self, user: Principal, order_id: str) -> OrderTimeline:
        owner = await read_model.owner_of(self._session, order_id)
        if owner is None:
            facts = await self._workflows.describe(order_id)
            owner = facts.customer_id if facts is not None else None
        if owner is None or not user.may_see(owner):
            raise OrderNotFoundError(order_id)
        events = await read_model.order_events(self._session, order_id)
        return OrderTimeline(
            order_id=order_id,
            events=[
                EventPublic(
                    event_id=event.event_id,
                    event_type=event.event_type,
                    aggregate_type=event.aggregate_type,
                    version=event.version,
                    occurred_at=event.occurred_at,
                    data=event.event_data,
                    actor=ActorPublic.model_validate(event.actor) if event.actor else None,
                    published_at=event.published_at,
                )
                for event in events
            ],
        )


def notice_address(user: Principal, asked: str | None) -> str:
    """Where the order's notices go: the e-mail the identity provider verified for the
    caller. Another address in the body would send a customer's notices (and what they
    say about the order) anywhere, so only an operator may name one."""
    if asked is None or user.is_operator:
        address = asked or user.email
    elif user.email is not None and asked.casefold() == user.email.casefold():
        address = user.email
    else:
        why = "must be the e-mail of your token; only operators may send notices elsewhere"
        raise InvalidFieldsError([InvalidField(("body", "email"), why, "email_not_verified")])
    if address is None:
        raise EmailRequiredError
    return address
