"""The order load a shop front puts on the API: the benchmark's and the fault runs'.

Each order is one ``POST /orders`` with an ``Idempotency-Key`` of its own. A client that
meets an outage sends the *same* request with the *same* key again, as a shop front must:
on a connection error (the API died mid-request), on 503 and on 409 "still in flight",
honouring ``Retry-After``. The key makes the repeat harmless: one order, never two. Then
each order is followed to a terminal state by reading it back (``GET /orders/{id}``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field

import httpx

TERMINAL = frozenset({"CONFIRMED", "REJECTED", "PAYMENT_FAILED", "CANCELLED"})
# Answers that mean "not now": the request may be sent again as it is.
RETRY_STATUSES = frozenset({409, 502, 503, 504})
MAX_BACKOFF = 5.0


@dataclass
class Placement:
    """One order as the client saw it: its key, the order id once accepted, its fate."""

    key: str
    order_id: str | None = None
    attempts: int = 0
    post_seconds: float = 0.0
    sent_at: float = 0.0
    error: str | None = None
    status: str | None = None
    finished_at: float | None = None

    @property
    def retried(self) -> bool:
        return self.attempts > 1


@dataclass
class OrderLoad:
    """Places orders of one product for one customer over ``http`` (base URL set)."""

    http: httpx.AsyncClient
    token: str
    product_id: str
    # How long one order's POST (or one read) keeps retrying through an outage.
    retry_budget: float = 180.0
    placed: list[Placement] = field(default_factory=list)
    on_progress: Callable[[str], None] | None = None

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def body(self, card: str = "tok_visa") -> dict[str, object]:
        return {
            "items": [{"product_id": self.product_id, "quantity": 1}],
            "payment": {"method": "card", "token": card},
        }

    async def place(self, key: str | None = None) -> Placement:
        """POST one order, resending it with the same key until accepted or out of budget."""
        placement = Placement(key=key or str(uuid.uuid4()), sent_at=time.monotonic())
        self.placed.append(placement)
        headers = {**self._headers, "Idempotency-Key": placement.key}
        body = self.body()

        async def post() -> httpx.Response:
            placement.attempts += 1
            return await self.http.post("/orders", json=body, headers=headers)

        response = await self._with_retries(post, placement)
        placement.post_seconds = time.monotonic() - placement.sent_at
        if response is not None and response.status_code in (200, 201, 202):
            placement.order_id = str(response.json()["order_id"])
            placement.error = None
        elif response is not None:
            placement.error = f"{response.status_code}: {response.text[:200]}"
        return placement

    async def status(self, order_id: str) -> str | None:
        """The order's status as the API reports it (None while it cannot say)."""

        async def get() -> httpx.Response:
            return await self.http.get(f"/orders/{order_id}", headers=self._headers)

        response = await self._with_retries(get, None)
        if response is None or response.status_code != 200:
            return None
        return str(response.json()["status"])

    async def steady(self, rate: float, count: int) -> list[Placement]:
        """``count`` orders at ``rate`` per second (open loop: a slow answer delays no one)."""
        started = time.monotonic()
        tasks: list[asyncio.Task[Placement]] = []
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self.place()))
        return list(await asyncio.gather(*tasks))

    async def wait_terminal(
        self,
        placements: Iterable[Placement],
        within: float,
        settled: Collection[str] = TERMINAL,
        interval: float = 0.5,
    ) -> list[Placement]:
        """Reads each accepted order until its status is in ``settled`` (at least once, then
        until ``within`` seconds passed); returns those that are not."""
        waiting = [p for p in placements if p.order_id is not None and p.status not in settled]
        deadline = time.monotonic() + within
        while waiting:
            statuses = await asyncio.gather(*(self.status(str(p.order_id)) for p in waiting))
            now = time.monotonic()
            for placement, status in zip(waiting, statuses, strict=True):
                # Two readers may follow one order; a stale answer never undoes a settled one.
                if status is None or placement.status in settled:
                    continue
                placement.status = status
                if status in settled:
                    placement.finished_at = now
            waiting = [p for p in waiting if p.status not in settled]
            if not waiting or now >= deadline:
                break
            await asyncio.sleep(interval)
        return waiting

    async def _with_retries(
        self, send: Callable[[], Awaitable[httpx.Response]], placement: Placement | None
    ) -> httpx.Response | None:
        deadline = time.monotonic() + self.retry_budget
        backoff = 0.2
        while True:
            wait = backoff
            try:
                response = await send()
                if not _retryable(response):
                    return response
                wait = _retry_after(response, backoff)
                last: httpx.Response | None = response
                reason = str(response.status_code)
            except httpx.TransportError as exc:
                last, reason = None, type(exc).__name__
            if placement is not None:
                placement.error = reason
            if time.monotonic() + wait > deadline:
                return last
            await asyncio.sleep(wait)
            backoff = min(MAX_BACKOFF, backoff * 2)


def _retryable(response: httpx.Response) -> bool:
    if response.status_code == 409:  # only "still in flight" says when to come back
        return "retry-after" in response.headers
    return response.status_code in RETRY_STATUSES


def _retry_after(response: httpx.Response, fallback: float) -> float:
    try:
        return min(MAX_BACKOFF, max(0.1, float(response.headers.get("retry-after", fallback))))
    except ValueError:
        return fallback
