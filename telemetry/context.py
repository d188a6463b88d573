"""The MDC of this codebase: the order and the HTTP request being served, in contextvars,
stamped onto every log record by ``telemetry.logs.LogContextFilter``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_order_id: ContextVar[str] = ContextVar("order_id", default="-")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextlib.contextmanager
def order_context(order_id: str) -> Iterator[None]:
    token = _order_id.set(order_id)
    try:
        yield
    finally:
        _order_id.reset(token)


def current_order_id() -> str:
    return _order_id.get()


@contextlib.contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def current_request_id() -> str | None:
    return _request_id.get()
