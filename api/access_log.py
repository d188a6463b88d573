"""One access-log line per request, and a request id that follows the request.

The id is the caller's ``X-Request-ID`` when it sends a usable one (a gateway's, a
client's retry), else a new one; it is echoed in the response and stamped on every log
line written while the request is served (``telemetry.context.request_context``). This
middleware sits inside OpenTelemetry's, so its line carries the request's trace id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telemetry.context import request_context

REQUEST_ID_HEADER: Final = "x-request-id"
# Anything else a caller sends is replaced: the id ends up in logs and must stay a token.
_USABLE_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = logging.getLogger("api.access")


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            text = bytes(value).decode("latin-1")
            if _USABLE_ID.match(text):
                return text
    return uuid.uuid4().hex


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        status = 500  # what the server answers when the app fails before responding
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        # The route template (/orders/{order_id}), set by FastAPI's router;
                        # unmatched paths keep their own.
                        "route": getattr(route, "path", None),
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
