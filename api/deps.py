"""FastAPI dependencies as ``Annotated`` aliases: a route names what it needs by type.

Everything is read from the app's :class:`Resources`, which the lifespan builds, so nothing
here creates an engine or a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.auth import (
    Principal,
    TokenVerifier,
    bearer_scheme,
    require_any,
    unauthorized,
)
from api.problems import ProblemError
from api.services.catalog import CatalogCache
from api.services.maintenance import MaintenanceSwitch
from api.services.orders import OrderService
from api.services.products import ProductService
from api.services.refunds import RefundService
from config.settings import Settings
from messages.queues import TaskQueues


@dataclass
class Resources:
    """What the lifespan builds and tears down; ``None`` until startup has run."""

    settings: Settings
    queues: TaskQueues
    verifier: TokenVerifier
    # Prices read from the catalog, shared by every request of this process.
    catalog: CatalogCache
    maintenance: MaintenanceSwitch
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    temporal: Client | None = None


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_sessions(resources: ResourcesDep) -> async_sessionmaker[AsyncSession]:
    if resources.sessions is None:
        raise RuntimeError("the app's lifespan has not started")
    return resources.sessions


SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]


async def get_session(sessions: SessionsDep) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


def get_temporal(resources: ResourcesDep) -> Client:
    if resources.temporal is None:
        # Not connected yet (or the lifespan is not running): the app keeps trying.
        raise ProblemError(
            503,
            "The workflow service is not connected yet; try again shortly.",
            slug="unavailable",
            headers={"Retry-After": "5"},
        )
    return resources.temporal


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]


async def get_principal(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None:
        raise unauthorized(None)
    return await resources.verifier.verify(credentials.credentials)


async def get_reader(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    names = principal.names
    return require_any(principal, names.customer, names.support, names.operator)


async def get_orderer(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Places and cancels orders: a customer (its own), an operator (any)."""
    return require_any(principal, principal.names.customer, principal.names.operator)


async def get_staff(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """Support and operators: people who run the service (not customers)."""
    return require_any(principal, principal.names.support, principal.names.operator)


async def get_operator(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    return require_any(principal, principal.names.operator)


async def get_catalog_admin(
    principal: Annotated[Principal, Depends(get_principal)],
) -> Principal:
    return require_any(principal, principal.names.catalog_admin)


# Who a route lets in; which orders each may touch is the services' check (404 otherwise).
Reader = Annotated[Principal, Depends(get_reader)]
Orderer = Annotated[Principal, Depends(get_orderer)]
Staff = Annotated[Principal, Depends(get_staff)]
OperatorUser = Annotated[Principal, Depends(get_operator)]
CatalogAdmin = Annotated[Principal, Depends(get_catalog_admin)]


def get_order_service(
    session: SessionDep, temporal: TemporalDep, resources: ResourcesDep
) -> OrderService:
    return OrderService(
        session,
        temporal,
        resources.settings,
        resources.queues,
        resources.catalog,
        maintenance=resources.maintenance,
    )


def get_refund_service(
    session: SessionDep, temporal: TemporalDep, resources: ResourcesDep
) -> RefundService:
    return RefundService(session, temporal, resources.queues)


def get_product_service(sessions: SessionsDep) -> ProductService:
    # Sessions, not one session: each write is a transaction of its own, retried whole.
    return ProductService(sessions)


OrderServiceDep = Annotated[OrderService, Depends(get_order_service)]
ProductServiceDep = Annotated[ProductService, Depends(get_product_service)]
RefundServiceDep = Annotated[RefundService, Depends(get_refund_service)]


def get_maintenance(resources: ResourcesDep) -> MaintenanceSwitch:
    return resources.maintenance


MaintenanceDep = Annotated[MaintenanceSwitch, Depends(get_maintenance)]
