"""``python -m provider [--host H] [--port P] [--ledger FILE]``: the shared payment provider.

Latency and the transient failure rate come from the same settings the in-process
simulation reads (``ORDERS_PAYMENTS__GATEWAY_LATENCY_MS``, ``…__GATEWAY_FAILURE_RATE``);
the ledger file from ``--ledger`` or ``ORDERS_PAYMENTS__SIMULATED_LEDGER_PATH``; the
bearer token every route but /healthz requires from ``ORDERS_PAYMENTS__PROVIDER_TOKEN``
(required in production).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from config.dev_defaults import DEV_PROVIDER_LEDGER, RUN_DIR
from config.settings import load_settings
from gateways.simulated_payment import SimulatedPaymentGateway
from provider.app import create_provider_app
from telemetry.setup import announce_demo_allowance, configure_telemetry

DEFAULT_PORT = 8100
log = logging.getLogger("provider")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--ledger", type=Path, help="the provider's SQLite database file")
    args = parser.parse_args(argv)
    settings = load_settings()
    payments = settings.payments
    token = payments.provider_token.get_secret_value()
    if settings.environment == "production" and not token:
        # Without it anyone who reaches the service refunds charges and switches outages.
        sys.exit(
            "payment provider: production needs ORDERS_PAYMENTS__PROVIDER_TOKEN (the bearer "
            "token every route but /healthz requires)"
        )
    default_ledger = RUN_DIR / DEV_PROVIDER_LEDGER
    ledger = args.ledger or Path(payments.simulated_ledger_path or default_ledger)
    configure_telemetry(settings.telemetry, service_name="payment-provider")
    announce_demo_allowance(settings)
    gateway = SimulatedPaymentGateway(
        latency_seconds=payments.gateway_latency_ms / 1000,
        failure_rate=payments.gateway_failure_rate,
        ledger_path=ledger,
    )
    log.info(
        "payment provider on http://%s:%d (ledger %s)", args.host, args.port, ledger.absolute()
    )
    try:
        app = create_provider_app(gateway, token=token)
        uvicorn.run(app, host=args.host, port=args.port)
    finally:
        gateway.close()


if __name__ == "__main__":
    main()
