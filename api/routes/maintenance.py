"""``/maintenance``: the switch that pauses new orders. Support and operators read it; only
an operator sets it, and the switch records who did."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import MaintenanceDep, OperatorUser, SessionDep, Staff
from api.maintenance_schemas import MaintenancePublic, MaintenanceUpdate
from api.problems import problem_responses

router = APIRouter(
    prefix="/maintenance", tags=["maintenance"], responses=problem_responses(401, 403, 503)
)


@router.get("", summary="Read the maintenance switch", responses=problem_responses(422))
async def read_switch(_: Staff, session: SessionDep, switch: MaintenanceDep) -> MaintenancePublic:
    """Whether new orders are paused, why, and who said so."""
    return await switch.state(session)


@router.put("", summary="Set the maintenance switch", responses=problem_responses(409, 422))
async def set_switch(
    body: MaintenanceUpdate, user: OperatorUser, session: SessionDep, switch: MaintenanceDep
) -> MaintenancePublic:
    """On: every API process answers new orders with 503, the `reason` and a Retry-After
    (`retry_after_seconds`, else the deployment's default) within
    `ORDERS_API__MAINTENANCE_CHECK_SECONDS`; orders in flight go on. Off: orders are taken
    again. 409 when the deployment's `ORDERS_API__MAINTENANCE` holds it on."""
    return await switch.change(session, body, user.subject)
