"""The payment-gateway port over HTTP, to the one shared simulated provider service.

Every worker process talks to the same provider (``python -m provider``), as real workers
share one real provider: a retried charge meets the first one's idempotency key wherever
it was made, and a refund finds a charge another process (or a process since killed) made.

Errors are mapped as a card provider's client would: a decline (402) is a business answer,
a reused key (409) or an invalid request (4xx) is our bug, and anything that leaves the
outcome unknown -- a timeout, a refused connection, a 5xx, a 429 -- is
GatewayUnavailableError, which callers retry under the same idempotency key. With a
token (``ORDERS_PAYMENTS__PROVIDER_TOKEN``) every request carries it as a bearer token.
"""

from __future__ import annotations

from typing import Any

import httpx

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
    IDEMPOTENCY_HEADER,
    charge_from_json,
)
from models.money import Money

__all__ = ["HttpPaymentGateway"]


class HttpPaymentGateway:
    """A client of the provider service at ``base_url``; one connection pool per process."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        token: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout_seconds, transport=transport, headers=headers
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TimeoutException as exc:
            # The request may have been processed: retrying with the same key is safe.
            raise GatewayUnavailableError(f"payment provider timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise GatewayUnavailableError(f"payment provider unreachable: {exc!r}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise GatewayUnavailableError(
                f"payment provider failed ({response.status_code}): {_message(response)}"
            )
        return response

    async def _charge_call(self, response: httpx.Response) -> GatewayCharge:
        if response.is_success:
            return charge_from_json(response.json())
        raise _client_error(response)

    async def charge(
        self, idempotency_key: str, amount: Money, token: str, *, capture: bool
    ) -> GatewayCharge:
        body = {
            "amount": str(amount.amount),
            "currency": amount.currency,
            "token": token,
            "capture": capture,
        }
        response = await self._send(
            "POST", "/v1/charges", json=body, headers={IDEMPOTENCY_HEADER: idempotency_key}
        )
        return await self._charge_call(response)

    async def capture(self, reference: str) -> GatewayCharge:
        return await self._charge_call(await self._send("POST", f"/v1/charges/{reference}/capture"))

    async def refund(
        self, reference: str, amount: Money | None = None, *, idempotency_key: str | None = None
    ) -> GatewayCharge:
        body: dict[str, str] = {}
        if amount is not None:
            body = {"amount": str(amount.amount), "currency": amount.currency}
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        path = f"/v1/charges/{reference}/refund"
        return await self._charge_call(await self._send("POST", path, json=body or None))

    async def void(self, reference: str) -> GatewayCharge:
        return await self._charge_call(await self._send("POST", f"/v1/charges/{reference}/void"))

    async def find_charge(self, idempotency_key: str) -> GatewayCharge | None:
        response = await self._send(
            "GET", "/v1/charges", params={"idempotency_key": idempotency_key}
        )
        if response.status_code == 404:
            return None
        return await self._charge_call(response)

    async def charge_count(self, idempotency_key: str) -> int:
        """How many charges the provider made under ``idempotency_key`` (for tests, demos)."""
        response = await self._send(
            "GET", "/admin/charge-count", params={"idempotency_key": idempotency_key}
        )
        if not response.is_success:
            raise _client_error(response)
        return int(response.json()["count"])


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _message(response: httpx.Response) -> str:
    return str(_error(response).get("message") or response.text[:200])


def _client_error(response: httpx.Response) -> Exception:
    error = _error(response)
    kind = error.get("type")
    message = _message(response)
    if response.status_code == 402 or kind == CARD_ERROR:
        return PaymentDeclinedError(message, str(error.get("code") or "card_declined"))
    if response.status_code == 409 or kind == IDEMPOTENCY_ERROR:
        return IdempotencyKeyReusedError(message)
    return GatewayRequestError(
        f"payment provider refused the request ({response.status_code}): {message}"
    )
