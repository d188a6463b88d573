"""The bodies of ``POST /orders/{id}/retry``: an operator's retry of a parked order.

Beside api/schemas.py, which holds every other body, so that neither grows past its size.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.order_status import OrderStatus


class RetryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500, examples=["provider back"])


class RetryAccepted(BaseModel):
    order_id: str = Field(examples=["0b9f4c1e-6a55-4d8e-9d0c-2f3a1b7e5c42"])
    status: OrderStatus = Field(description="The status the parked step goes on from.")
    step: str | None = Field(default=None, examples=["charge"])
    detail: str = Field(examples=["retrying"])
