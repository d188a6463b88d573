"""Stripe's idempotency keys, its clock, and its webhook signatures, for the double.

Idempotency, as Stripe documents it: the first request's status code and body are saved
under its key and replayed for the same key (with ``Idempotent-Replayed: true``); the same
key with other parameters, or on another endpoint, is an ``idempotency_error``; a request
that fails validation before it runs saves nothing; keys may be removed once they are 24
hours old -- after that the key is new again. The clock is the double's own (wall clock
plus an offset tests move forward), so "a day later" takes no day.

Signatures, as Stripe signs webhooks: ``Stripe-Signature: t=<unix time>,v1=<hex
HMAC-SHA256 of "<t>.<payload>" under the endpoint's secret>``. They use the wall clock,
because the SDK checks the timestamp against its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KEY_LIFETIME_SECONDS", "Clock", "IdempotencyStore", "Saved", "sign"]

KEY_LIFETIME_SECONDS = 24 * 3600


@dataclass
class Clock:
    offset_seconds: float = 0.0

    def now(self) -> int:
        return int(time.time() + self.offset_seconds)

    def advance(self, seconds: float) -> None:
        self.offset_seconds += seconds


@dataclass(frozen=True)
class Saved:
    endpoint: str
    fingerprint: str
    status: int
    body: dict[str, Any]
    created: int


@dataclass
class IdempotencyStore:
    clock: Clock
    _saved: dict[str, Saved] = field(default_factory=dict)

    def replay(self, key: str, endpoint: str, params: dict[str, Any]) -> Saved | None:
        """The saved answer for ``key``; raises ValueError on a mismatched reuse."""
        saved = self._saved.get(key)
        if saved is None:
            return None
        if self.clock.now() - saved.created >= KEY_LIFETIME_SECONDS:
            del self._saved[key]  # expired: Stripe no longer knows the key
            return None
        if saved.endpoint != endpoint:
            raise ValueError(
                f"Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{saved.endpoint}' vs '{endpoint}'). Try using a key "
                f"other than '{key}' if you meant to execute a different request."
            )
        if saved.fingerprint != fingerprint(params):
            raise ValueError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request."
            )
        return saved

    def save(
        self, key: str, endpoint: str, params: dict[str, Any], status: int, body: dict[str, Any]
    ) -> None:
        self._saved[key] = Saved(endpoint, fingerprint(params), status, body, self.clock.now())

    def keys(self) -> list[str]:
        return list(self._saved)


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    v1 = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"
