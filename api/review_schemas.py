"""The bodies of ``POST /orders/{id}/review``: an operator's decision on an order IN_REVIEW.

Beside api/schemas.py, which holds every other body, so that neither grows past its size.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.order_status import OrderStatus


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool = Field(description="true: on to the charge; false: reject the order.")
    note: str = Field(
        default="",
        max_length=500,
        description="Recorded with the decision; a rejection's note is the reason the "
        "customer reads.",
        examples=["known customer, large company order"],
    )


class ReviewAccepted(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    status: OrderStatus = Field(description="The order's status as the decision was taken.")
    detail: str = Field(examples=["approved"])
