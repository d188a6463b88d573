"""The provider service's HTTP surface over the simulation core (gateways/simulated_payment.py).

The service holds ONE SimulatedPaymentGateway on a durable ledger (a SQLite file), so every
client shares one provider and its books outlive any process, the service's included. The
simulation's semantics (idempotency, declines by test token, latency, transient failures,
outage) are the core's; this module only maps them onto HTTP. The outage switch lives in
this process and is flipped at run time through ``/admin/outage`` (``python -m tools.provider
outage on|off``), so it is meant for one replica, as the demo deployments run it.

With a token (``ORDERS_PAYMENTS__PROVIDER_TOKEN``) every route but ``/healthz`` answers
only requests carrying ``Authorization: Bearer <token>``: refunds and the outage switch
move money and stop payments, so reaching the service must not be enough.
"""

from __future__ import annotations

import hmac
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateways.payment_gateway import (
    GatewayCharge,
    GatewayRequestError,
    GatewayUnavailableError,
    IdempotencyKeyReusedError,
    PaymentDeclinedError,
)
from gateways.provider_wire import (
    CARD_ERROR,
    IDEMPOTENCY_ERROR,
    INVALID_REQUEST_ERROR,
    UNAVAILABLE_ERROR,
    charge_to_json,
    error_body,
)
from gateways.simulated_payment import SimulatedPaymentGateway
from models.errors import InvalidMoneyError
from models.money import Money

__all__ = ["create_provider_app"]


class ChargeRequest(BaseModel):
    amount: str
    currency: str
    token: str
    capture: bool


class RefundRequest(BaseModel):
    """Empty: refund in full. ``amount``/``currency``: a partial refund, made once per
    ``idempotency_key``."""

    amount: str | None = None
    currency: str | None = None
    idempotency_key: str | None = None


class OutageSwitch(BaseModel):
    on: bool


def _error(status: int, kind: str, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(kind, message, code), status_code=status)


def _answer(charge: GatewayCharge | None) -> JSONResponse:
    if charge is None:
        return _error(404, INVALID_REQUEST_ERROR, "no charge under that idempotency key")
    return JSONResponse(charge_to_json(charge))


# The one route open without the token: probes carry no credentials.
OPEN_PATHS = frozenset({"/healthz"})


class _BearerGuard:
    """Plain ASGI (not an ``@app.middleware``, which costs a task per request): lets a
    request through only with the token, or to an open path."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = _error(401, INVALID_REQUEST_ERROR, "missing or wrong bearer token")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        presented = Headers(scope=scope).get("authorization", "").encode()
        # Constant time, so the answer's timing does not give the token away byte by byte.
        return hmac.compare_digest(presented, self.expected)


def create_provider_app(gateway: SimulatedPaymentGateway, *, token: str = "") -> FastAPI:
    """The service's routes; with ``token``, all but ``/healthz`` require it as a bearer."""
    app = FastAPI(title="Simulated payment provider", docs_url=None, redoc_url=None)
    state: dict[str, bool] = {"outage": False}
    if token:
        app.add_middleware(_BearerGuard, token=token)

    @app.exception_handler(PaymentDeclinedError)
    async def _declined(_: Request, exc: PaymentDeclinedError) -> JSONResponse:
        return _error(402, CARD_ERROR, exc.reason, exc.code)

    @app.exception_handler(IdempotencyKeyReusedError)
    async def _reused(_: Request, exc: IdempotencyKeyReusedError) -> JSONResponse:
        return _error(409, IDEMPOTENCY_ERROR, str(exc))

    @app.exception_handler(GatewayRequestError)
    async def _invalid(_: Request, exc: GatewayRequestError) -> JSONResponse:
        return _error(400, INVALID_REQUEST_ERROR, str(exc))

    @app.exception_handler(GatewayUnavailableError)
    async def _unavailable(_: Request, exc: GatewayUnavailableError) -> JSONResponse:
        return _error(503, UNAVAILABLE_ERROR, str(exc))

    @app.post("/v1/charges")
    async def charge(
        body: ChargeRequest, idempotency_key: Annotated[str, Header(min_length=1)]
    ) -> JSONResponse:
        try:
            amount = Money(Decimal(body.amount), body.currency)
        except (InvalidOperation, InvalidMoneyError, TypeError) as exc:
            return _error(400, INVALID_REQUEST_ERROR, f"invalid amount: {exc}")
        return _answer(
            await gateway.charge(idempotency_key, amount, body.token, capture=body.capture)
        )

    @app.get("/v1/charges")
    async def find_charge(idempotency_key: str) -> JSONResponse:
        return _answer(await gateway.find_charge(idempotency_key))

    @app.post("/v1/charges/{reference}/capture")
    async def capture(reference: str) -> JSONResponse:
        return _answer(await gateway.capture(reference))

    @app.post("/v1/charges/{reference}/refund")
    async def refund(reference: str, body: RefundRequest | None = None) -> JSONResponse:
        body = body or RefundRequest()
        amount = None
        if body.amount is not None:
            try:
                amount = Money(Decimal(body.amount), body.currency or "")
            except (InvalidOperation, InvalidMoneyError, TypeError) as exc:
                return _error(400, INVALID_REQUEST_ERROR, f"invalid amount: {exc}")
        return _answer(
            await gateway.refund(reference, amount, idempotency_key=body.idempotency_key)
        )

    @app.post("/v1/charges/{reference}/void")
    async def void(reference: str) -> JSONResponse:
        return _answer(await gateway.void(reference))

    @app.get("/admin/outage")
    async def outage_status() -> dict[str, Any]:
        return {"on": state["outage"]}

    @app.put("/admin/outage")
    async def switch_outage(switch: OutageSwitch) -> dict[str, Any]:
        gateway.outage(on=switch.on)
        state["outage"] = switch.on
        return {"on": switch.on}

    @app.get("/admin/charge-count")
    async def charge_count(idempotency_key: str) -> dict[str, Any]:
        return {"idempotency_key": idempotency_key, "count": gateway.charge_count(idempotency_key)}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
