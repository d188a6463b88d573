"""Probes for the platform: liveness (``/healthz``) and readiness (``/readyz``), no auth."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ResourcesDep
from api.problems import problem_responses
from api.schemas import Health, Readiness
from api.services.health import readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness", responses=problem_responses(422))
async def healthz() -> Health:
    """The process is up and serving; checks nothing else."""
    return Health()


@router.get("/readyz", summary="Readiness", responses=problem_responses(422, 503))
async def readyz(resources: ResourcesDep) -> Readiness:
    """Database and Temporal reachable; also reports the outbox backlog and the maintenance
    switch (ready while it is on: new orders get their 503 from a ready pod)."""
    return await readiness(resources.sessions, resources.temporal, resources.maintenance)
