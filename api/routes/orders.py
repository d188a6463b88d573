"""``/orders``: place (202 + saga), read, list, cancel, retry, refund, and the order's event
timeline. Each route names the roles it lets in (api/deps.py); which orders a caller may
touch is the service's check, and another customer's order answers 404."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from api.deps import OperatorUser, Orderer, OrderServiceDep, Reader, RefundServiceDep
from api.problems import problem_responses
from api.retry_schemas import RetryAccepted, RetryCreate
from api.schemas import (
    CancelAccepted,
    CancelCreate,
    OrderCreate,
    OrderPublic,
    OrdersPage,
    OrderTimeline,
    RefundAccepted,
    RefundCreate,
)
from models.order_status import OrderStatus

router = APIRouter(prefix="/orders", tags=["orders"], responses=problem_responses(401, 403, 503))

_LOCATION = {"Location": {"description": "Where to read the order.", "schema": {"type": "string"}}}
_ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: the saga runs; poll the Location for its progress.",
        "headers": {
            **_LOCATION,
            "Idempotent-Replayed": {
                "description": "`true` when an earlier request with the same key answered.",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
    }
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID is best). Repeating a request with the same "
        "key and body returns the same order; keys are kept at least 24 hours.",
        examples=["3f6c2a9e-9a1d-4c1e-8f0b-5a8d2f7c1b6e"],
    ),
]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Place an order",
    responses={**_ACCEPTED, **problem_responses(400, 409, 413, 422, 503)},
)
async def place_order(
    body: OrderCreate,
    user: Orderer,
    orders: OrderServiceDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderPublic:
    """Prices the items from the catalog and starts the order's saga (`OrderSaga`). Notices
    go to the token's `email`; a different `email` in the body is refused (422) unless the
    caller is an operator."""
    placed = await orders.place(user, body, idempotency_key)
    response.headers["Location"] = f"/orders/{placed.order.order_id}"
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return placed.order


@router.get("", summary="List orders", responses=problem_responses(422))
async def list_orders(
    *,
    user: Reader,
    orders: OrderServiceDep,
    order_status: Annotated[OrderStatus | None, Query(alias="status")] = None,
    customer_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            description="Support and operators: one customer's orders.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrdersPage:
    """The caller's orders (support's and operators': everyone's), newest first, a page at a
    time."""
    return await orders.list_orders(
        user, customer_id=customer_id, status=order_status, cursor=cursor, limit=limit
    )


@router.get("/{order_id}", summary="Read an order", responses=problem_responses(404, 422, 503))
async def get_order(order_id: uuid.UUID, user: Reader, orders: OrderServiceDep) -> OrderPublic:
    """Items, total, status, payment and notices; live from the saga until recorded."""
    return await orders.get(user, str(order_id))


@router.post(
    "/{order_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel an order",
    responses={
        202: {"description": "Accepted: the saga compensates and ends CANCELLED."},
        **problem_responses(400, 404, 409, 422, 503),
    },
)
async def cancel_order(
    order_id: uuid.UUID,
    user: Orderer,
    orders: OrderServiceDep,
    response: Response,
    body: CancelCreate | None = None,
) -> CancelAccepted:
    """Asks the saga to cancel (a customer its own order, an operator any); refused (409)
    once it is confirming or finished."""
    reason = (body or CancelCreate()).reason
    accepted = await orders.cancel(user, str(order_id), reason)
    response.headers["Location"] = f"/orders/{order_id}"
    return accepted


@router.post(
    "/{order_id}/refund",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Refund a confirmed order (operators)",
    responses={
        202: {"description": "Accepted: the refund workflow `refund-<order_id>` runs."},
        **problem_responses(400, 404, 409, 422, 503),
    },
)
async def refund_order(
    order_id: uuid.UUID,
    body: RefundCreate,
    operator: OperatorUser,
    refunds: RefundServiceDep,
    response: Response,
) -> RefundAccepted:
    """Gives the money back (all, or the returned lines), puts the goods back in stock and
    tells the customer. Only CONFIRMED orders; one refund per order (409 otherwise)."""
    accepted = await refunds.refund(operator, str(order_id), body)
    response.headers["Location"] = f"/orders/{order_id}"
    return accepted


@router.post(
    "/{order_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Retry a parked order (operators)",
    responses={
        202: {"description": "Accepted: the parked step runs again."},
        **problem_responses(400, 404, 409, 422, 503),
    },
)
async def retry_order(
    order_id: uuid.UUID,
    operator: OperatorUser,
    orders: OrderServiceDep,
    response: Response,
    body: RetryCreate | None = None,
) -> RetryAccepted:
    """Sends the saga's `retry` update with the caller's verified subject as the operator,
    so the resumed order's event names who retried it. Refused (409) unless the order is
    NEEDS_ATTENTION and waiting for a retry."""
    note = (body or RetryCreate()).note
    accepted = await orders.retry(operator, str(order_id), note)
    response.headers["Location"] = f"/orders/{order_id}"
    return accepted


@router.get(
    "/{order_id}/events",
    summary="The order's event timeline",
    responses=problem_responses(404, 422, 503),
)
async def order_events(order_id: uuid.UUID, user: Reader, orders: OrderServiceDep) -> OrderTimeline:
    """The order's domain events from the event store, oldest first (by version)."""
    return await orders.timeline(user, str(order_id))
