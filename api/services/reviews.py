"""Spend limits and manual review: the review policy each saga carries, and the operator's
decision on an order IN_REVIEW (``POST /orders/{id}/review``)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api import read_model
from api.auth import Principal
from api.errors import NotReviewableError, OrderNotFoundError
from api.review_schemas import ReviewAccepted, ReviewCreate
from api.services.workflows import OrderWorkflows, ReviewRefusedError, SagaFinishedError
from config.settings import Settings
from messages.queues import TaskQueues
from messages.saga import ReviewPolicy, ReviewRequest, SagaPolicy

__all__ = ["ReviewService", "saga_policy"]


def saga_policy(settings: Settings) -> SagaPolicy:
    """The budgets, waits and spend limits a new saga runs by (it cannot read settings)."""
    risk = settings.risk
    review = ReviewPolicy(
        max_order_amount=risk.max_order_amount,
        spend_limit=risk.spend_limit,
        spend_window_hours=risk.spend_window_hours,
        max_orders_per_hour=risk.max_orders_per_hour,
        timeout_seconds=risk.review_timeout_seconds,
    )
    return SagaPolicy(**settings.saga.model_dump(), review=review)


class ReviewService:
    def __init__(self, session: AsyncSession, temporal: Client, queues: TaskQueues) -> None:
        self._session = session
        self._workflows = OrderWorkflows(temporal, queues)

    async def review(
        self, operator: Principal, order_id: str, body: ReviewCreate
    ) -> ReviewAccepted:
        """The saga's ``review`` update, naming the caller's verified subject as operator."""
        facts = await self._workflows.describe(order_id)
        if facts is None:
            owner = await read_model.owner_of(self._session, order_id)
            await self._session.commit()
            if owner is None:
                raise OrderNotFoundError(order_id)
            raise NotReviewableError(order_id, "it is already finished")
        if not facts.running:
            raise NotReviewableError(order_id, f"it is already {facts.status or 'finished'}")
        request = ReviewRequest(
            approve=body.approve,
            note=body.note,
            operator=operator.subject,
            actor=operator.acting_as(operator.names.operator),
        )
        try:
            outcome = await self._workflows.request_review(order_id, request)
        except ReviewRefusedError as exc:
            raise NotReviewableError(order_id, str(exc)) from exc
        except SagaFinishedError as exc:
            raise NotReviewableError(order_id, "it is already finished") from exc
        return ReviewAccepted(order_id=order_id, status=outcome.status, detail=outcome.detail)
