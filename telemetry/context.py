"""The MDC of this codebase: an order id carried in a contextvar onto every log record."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

_order_id: ContextVar[str] = ContextVar("order_id", default="-")


@contextlib.contextmanager
def order_context(order_id: str) -> Iterator[None]:
    token = _order_id.set(order_id)
    try:
        yield
    finally:
        _order_id.reset(token)


def current_order_id() -> str:
    return _order_id.get()


class OrderContextFilter(logging.Filter):
    """Stamps ``record.order_id`` so formatters can print it on every line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.order_id = _order_id.get()
        return True
