"""What the inbox consumer does with a message it cannot apply: retry, park or stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from confluent_kafka import Message

__all__ = ["DeadLetters", "HandlerExhaustedError", "RetryPolicy"]


class DeadLetters(Protocol):
    async def park(self, message: Message, consumer: str, error: str, attempts: int) -> str: ...


class HandlerExhaustedError(RuntimeError):
    """A handler kept failing on one message and the policy says stop rather than park it."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int | None = None  # None: retry until it succeeds
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    on_exhausted: Literal["dead_letter", "stop"] = "dead_letter"

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure of the same message."""
        return float(
            min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(attempts - 1, 0))
        )
