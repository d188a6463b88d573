"""The codec endpoint: Temporal's remote codec protocol, so authorised operators see
decoded payloads in the Web UI and the CLI (``--codec-endpoint``).

``POST /codec/decode`` and ``POST /codec/encode`` take and answer ``{"payloads": [...]}``
(the protobuf JSON of ``temporal.api.common.v1.Payloads``). Decoding shows customers' data,
so it needs a bearer token with the operator role, and no other role will do (the UI
passes its access token; the CLI sends
``--codec-auth 'Bearer …'``). In dev only, the Web UI of ``make dev`` (no login, a loopback
origin) may call it without one. Mounted as its own small app so its CORS policy (the UI's
origin) applies to it alone. Every decode is logged with the caller's subject and the
number of payloads, never with what they hold.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from temporalio.api.common.v1 import Payloads

from api.auth import require_any, unauthorized
from api.deps import Resources
from api.problems import ProblemError, install_problem_handlers
from clients.codec import EncryptionCodec, UnknownKeyError
from config.settings import Settings

__all__ = ["LOOPBACK_ORIGIN", "codec_app"]

LOOPBACK_ORIGIN = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1"})
# Who the dev UI's unauthenticated calls are logged as.
DEV_UI_SUBJECT = "dev-ui (no token, loopback)"

log = logging.getLogger(__name__)


def codec_app(settings: Settings, resources: Resources) -> FastAPI:
    """The codec endpoint for ``settings``; ``resources`` are the API's (its token verifier)."""
    codec = EncryptionCodec.from_settings(settings.temporal.codec)
    dev = settings.environment == "dev"
    app = FastAPI(title="Payload codec", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.resources = resources
    install_problem_handlers(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.temporal.codec.cors_origins,
        allow_origin_regex=LOOPBACK_ORIGIN if dev else None,
        allow_methods=["POST"],
        # The signed-in UI sends its ID token as Authorization-Extras beside the access token.
        allow_headers=["Authorization", "Authorization-Extras", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    async def authorize(request: Request) -> str:
        """The caller's subject, once it proved the operator role."""
        header = request.headers.get("authorization")
        if not header:
            origin = request.headers.get("origin") or ""
            peer = request.client.host if request.client else ""
            if dev and re.match(LOOPBACK_ORIGIN, origin) and peer in LOOPBACK_PEERS:
                # The dev UI has no login: only in dev, only a loopback page on this machine
                # (the Origin header alone can be set by any client).
                return DEV_UI_SUBJECT
            raise unauthorized(None)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("Send the token as `Authorization: Bearer <token>`.")
        principal = await resources.verifier.verify(token)
        return require_any(principal, principal.names.operator).subject

    async def payloads_of(request: Request) -> Payloads:
        try:
            return json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as exc:
            raise ProblemError(
                400, f"Not a JSON Payloads message: {exc}", slug="bad-payloads"
            ) from exc

    def answer(payloads: Payloads) -> JSONResponse:
        body = json_format.MessageToDict(payloads)
        return JSONResponse({"payloads": body.get("payloads", [])})

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        subject = await authorize(request)
        received = await payloads_of(request)
        # The audit trail of who read customers' data: the subject and how much, no payload.
        log.info(
            "codec decode by %s: %d payloads",
            subject,
            len(received.payloads),
            extra={"subject": subject, "payloads": len(received.payloads)},
        )
        try:
            decoded = await codec.decode(received.payloads)
        except UnknownKeyError as exc:
            raise ProblemError(422, str(exc), slug="unknown-codec-key") from exc
        return answer(Payloads(payloads=decoded))

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        await authorize(request)
        received = await payloads_of(request)
        return answer(Payloads(payloads=await codec.encode(received.payloads)))

    return app
