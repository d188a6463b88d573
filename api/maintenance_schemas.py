"""The maintenance switch's bodies: what GET /maintenance and the readiness probe show, and
what an operator sends to PUT /maintenance."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator


class MaintenancePublic(BaseModel):
    """The maintenance switch: while ``active``, POST /orders answers 503 with Retry-After;
    orders already placed go on."""

    active: bool
    reason: str | None = Field(default=None, examples=["database upgrade"])
    retry_after_seconds: int = Field(ge=1, examples=[300])
    held_by_setting: bool = Field(
        default=False,
        description="On because the deployment sets ORDERS_API__MAINTENANCE; only a change "
        "of that setting switches it off.",
    )
    changed_by: str | None = None
    changed_at: datetime | None = None


class MaintenanceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: Annotated[bool, Strict()]
    reason: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Required to switch on: customers read it in the 503's detail.",
    )
    retry_after_seconds: int | None = Field(default=None, ge=1, le=86_400, strict=True)

    @model_validator(mode="after")
    def _reason_to_switch_on(self) -> MaintenanceUpdate:
        if self.active and self.reason is None:
            raise ValueError("a reason is required to switch maintenance on")
        return self
