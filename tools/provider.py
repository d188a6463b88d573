"""``python -m tools.provider outage on|off|status``: switch the shared provider's outage.

Calls the provider service's admin endpoint (``ORDERS_PAYMENTS__PROVIDER_URL`` or
``--url``) with its token (``ORDERS_PAYMENTS__PROVIDER_TOKEN``), so an operator, a test or
a demo causes and ends an outage from outside the workers; every worker sees it at once,
as they would a real provider's.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from config.settings import load_settings


def switch_outage(
    provider_url: str, on: bool | None, *, token: str = "", timeout: float = 10.0
) -> bool:
    """Turn the outage on or off (``None``: only ask); the provider's state afterwards."""
    url = provider_url.rstrip("/") + "/admin/outage"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        response = client.get(url) if on is None else client.put(url, json={"on": on})
    response.raise_for_status()
    return bool(response.json()["on"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.provider", description=__doc__)
    parser.add_argument("--url", help="the provider service (default: settings)")
    sub = parser.add_subparsers(dest="command", required=True)
    outage = sub.add_parser("outage", help="switch the simulated outage")
    outage.add_argument("state", choices=["on", "off", "status"])
    args = parser.parse_args(argv)
    payments = load_settings().payments
    url = args.url or payments.provider_url
    if not url:
        parser.error("no provider: set ORDERS_PAYMENTS__PROVIDER_URL or pass --url")
    wanted = {"on": True, "off": False, "status": None}[args.state]
    try:
        on = switch_outage(url, wanted, token=payments.provider_token.get_secret_value())
    except httpx.HTTPError as exc:
        print(f"payment provider at {url}: {exc}", file=sys.stderr)
        return 1
    print(f"payment provider at {url}: outage {'on' if on else 'off'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
