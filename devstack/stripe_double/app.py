"""The Stripe double's HTTP face: Stripe's form-encoded requests in, its JSON out.

Every request needs a bearer secret key (``sk_test_…``), as Stripe's API does. POSTs go
through the idempotency store; the events a request produced are delivered afterwards to
the webhook endpoint, if one is configured, as Stripe delivers them (signed, retried a
few times on a non-2xx answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.stripe_double.idempotency import Clock, IdempotencyStore, sign
from devstack.stripe_double.ledger import Ledger, StripeApiError, invalid

__all__ = ["DoubleState", "build_app", "decode_form"]

DELIVERY_ATTEMPTS = 3


@dataclass
class DoubleState:
    base_url: str
    webhook_url: str = ""
    webhook_secret: str = ""
    # A round trip's time (half there, half back), for races and crashes in tests.
    latency_seconds: float = 0.0
    # HTTP statuses the next API requests answer with instead (429, 500, 503): outages.
    faults: list[int] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Every API request as received: (method, path, Idempotency-Key header or None).
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    delivered: list[tuple[str, int]] = field(default_factory=list)  # (event id, HTTP status)
    ledger: Ledger = field(init=False)
    keys: IdempotencyStore = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = Ledger(now=self.clock.now)
        self.keys = IdempotencyStore(self.clock)

    def signed(self, event: dict[str, Any]) -> tuple[bytes, str]:
        """The webhook body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        payload = json.dumps(event).encode()
        return payload, sign(payload, self.webhook_secret)


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``metadata[order_id]=1&expand[0]=x`` → ``{"metadata": {"order_id": "1"}, "expand":
    ["x"]}``, the way Stripe reads its form-encoded parameters."""
    decoded: dict[str, Any] = {}
    for name, value in pairs:
        path = re.findall(r"[^\[\]]+", name)
        node = decoded
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    nested: dict[str, Any] = _lists(decoded)
    return nested


def _lists(node: Any) -> Any:
    """Objects whose keys are all indexes are the lists the SDK encoded."""
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _error(exc: StripeApiError) -> JSONResponse:
    return JSONResponse({"error": exc.error}, status_code=exc.status)


def build_app(state: DoubleState) -> Starlette:
    handlers = _Handlers(state)
    return Starlette(
        routes=[
            Route(
                "/_test/payment_intents/{intent_id}/authenticate",
                handlers.authenticate,
                methods=["POST"],
            ),
            Route("/_test/payment_intents/{intent_id}/settle", handlers.settle, methods=["POST"]),
            Route("/_test/clock/advance", handlers.advance_clock, methods=["POST"]),
            Route("/_test/events/{event_id}/deliver", handlers.redeliver, methods=["POST"]),
            Route("/v1/{path:path}", handlers.handle, methods=["GET", "POST", "DELETE"]),
        ]
    )


async def _params_of(request: Request) -> dict[str, Any]:
    pairs = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method == "POST":
        pairs += parse_qsl((await request.body()).decode(), keep_blank_values=True)
    return decode_form(pairs)


class _Handlers:
    def __init__(self, state: DoubleState) -> None:
        self.state = state

    async def handle(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer sk_"):
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key."}},
                status_code=401,
            )
        if self.state.faults:
            status = self.state.faults.pop(0)
            kind = "rate_limit_error" if status == 429 else "api_error"
            message = "Too many requests." if status == 429 else "An unknown error occurred."
            return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)
        params = await _params_of(request)
        key = request.headers.get("idempotency-key")
        endpoint = f"{request.method} {request.url.path}"
        with self.state.lock:
            self.state.requests.append((request.method, request.url.path, key))
        half = self.state.latency_seconds / 2
        if half:
            await asyncio.sleep(half)  # the request on its way
        with self.state.lock:
            events_before = len(self.state.ledger.events)
            if request.method == "POST" and key:
                try:
                    saved = self.state.keys.replay(key, endpoint, params)
                except ValueError as reused:
                    return JSONResponse(
                        {"error": {"type": "idempotency_error", "message": str(reused)}},
                        status_code=400,
                    )
                if saved is not None:
                    return JSONResponse(
                        saved.body,
                        status_code=saved.status,
                        headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
                    )
            try:
                status, body = 200, self.route(request, params)
            except StripeApiError as exc:
                status, body = exc.status, {"error": exc.error}
            validation_only = str(body.get("error", {}).get("code", "")).startswith("parameter_")
            if request.method == "POST" and key and not validation_only:
                self.state.keys.save(key, endpoint, params, status, body)
            new_events = self.state.ledger.events[events_before:]
        task = BackgroundTask(self.deliver, list(new_events)) if new_events else None
        if half:
            # The answer on its way back: a caller dying now never hears what happened.
            await asyncio.sleep(half)
        return JSONResponse(body, status_code=status, background=task)

    def route(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911
        ledger = self.state.ledger
        parts = request.url.path.strip("/").split("/")[1:]  # without "v1"
        method = request.method
        match parts:
            case ["payment_intents"] if method == "POST":
                return ledger.create_intent({**params, "_base_url": self.state.base_url})
            case ["payment_intents", intent_id] if method == "GET":
                return ledger.intent(intent_id)
            case ["payment_intents", intent_id, "confirm"] if method == "POST":
                return ledger.confirm(intent_id, params, base_url=self.state.base_url)
            case ["payment_intents", intent_id, "capture"] if method == "POST":
                return ledger.capture(intent_id, params)
            case ["payment_intents", intent_id, "cancel"] if method == "POST":
                return ledger.cancel(intent_id, params)
            case ["refunds"] if method == "POST":
                return ledger.create_refund(params)
            case ["refunds"] if method == "GET":
                found = ledger.refunds_of(params.get("payment_intent", ""))
                if not params.get("payment_intent"):
                    found = list(ledger.refunds.values())
                # Stripe lists newest first.
                data = list(reversed(found))
                return {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
            case ["refunds", refund_id] if method == "GET" and refund_id in ledger.refunds:
                return ledger.refunds[refund_id]
            case ["events", event_id] if method == "GET":
                return ledger.event(event_id)
            case ["events"] if method == "GET":
                data = list(reversed(ledger.events))
                return {"object": "list", "data": data, "has_more": False, "url": "/v1/events"}
        raise invalid(f"Unrecognized request URL ({method}: {request.url.path}).")

    async def deliver(self, events: list[dict[str, Any]]) -> None:
        if not self.state.webhook_url:
            return
        async with httpx.AsyncClient(timeout=10) as client:
            for event in events:
                await self.deliver_one(client, event)

    async def deliver_one(self, client: httpx.AsyncClient, event: dict[str, Any]) -> None:
        for attempt in range(DELIVERY_ATTEMPTS):
            payload, signature = self.state.signed(event)
            headers = {"Stripe-Signature": signature, "Content-Type": "application/json"}
            try:
                answer = await client.post(self.state.webhook_url, content=payload, headers=headers)
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            self.state.delivered.append((event["id"], status))
            if 200 <= status < 300:
                return
            await asyncio.sleep(0.2 * 2**attempt)

    async def authenticate(self, request: Request) -> Response:
        return await self._test_move(request, self.state.ledger.authenticate)

    async def settle(self, request: Request) -> Response:
        return await self._test_move(request, self.state.ledger.settle)

    async def _test_move(self, request: Request, move: Callable[..., dict[str, Any]]) -> Response:
        """A test's move of an intent (``outcome=succeed|fail``), its events delivered."""
        params = await _params_of(request)
        with self.state.lock:
            before = len(self.state.ledger.events)
            try:
                intent = move(
                    request.path_params["intent_id"], succeed=params.get("outcome") != "fail"
                )
            except StripeApiError as exc:
                return _error(exc)
            events = self.state.ledger.events[before:]
        return JSONResponse(intent, background=BackgroundTask(self.deliver, list(events)))

    async def advance_clock(self, request: Request) -> Response:
        params = await _params_of(request)
        self.state.clock.advance(float(params.get("seconds", 0)))
        return JSONResponse({"now": self.state.clock.now()})

    async def redeliver(self, request: Request) -> Response:
        try:
            event = self.state.ledger.event(request.path_params["event_id"])
        except StripeApiError as exc:
            return _error(exc)
        await self.deliver([event])
        return JSONResponse({"delivered": event["id"]})
