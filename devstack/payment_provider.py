"""The shared simulated payment provider as a child process, like the other services.

``python -m devstack.payment_provider [--run-dir DIR] [--port P]`` runs it in the
foreground; the Stack and the tests use ``PaymentProviderService``. Its ledger is a SQLite
file in the run directory, so the provider's books outlive a restart of the service.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

import httpx

from config.dev_defaults import DEV_PROVIDER_LEDGER
from devstack.process import ManagedProcess, ManagedService, free_port
from devstack.supervisor import StopRequest

TOKEN_VARIABLE = "ORDERS_PAYMENTS__PROVIDER_TOKEN"  # noqa: S105 (a variable's name, not a secret)


def provider_token_env() -> dict[str, str]:
    """The provider's bearer token for a production-mode stack: the one configured, else one
    of the run's own (production refuses a provider service without one)."""
    return {TOKEN_VARIABLE: os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(32)}


class PaymentProviderService(ManagedService):
    """``python -m provider`` on loopback, on a free port unless one is given."""

    def __init__(
        self,
        run_dir: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        self.ledger_path = (run_dir / DEV_PROVIDER_LEDGER).absolute()
        self.env = env or {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        """The bearer token it requires (``ORDERS_PAYMENTS__PROVIDER_TOKEN``); empty: none."""
        return self.env.get(TOKEN_VARIABLE) or os.environ.get(TOKEN_VARIABLE, "")

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    def start(self, timeout: float = 30.0) -> PaymentProviderService:
        args = [
            sys.executable,
            "-m",
            "provider",
            "--port",
            str(self.port),
            "--ledger",
            str(self.ledger_path),
        ]
        self._launch(
            ManagedProcess(
                "payment-provider",
                args,
                self.run_dir / "logs" / "payment-provider.log",
                # Its own URL too: a production environment refuses settings without one.
                env={
                    **self.env,
                    "ORDERS_PAYMENTS__PROVIDER_URL": self.url,
                    "PYTHONUNBUFFERED": "1",
                },
            )
        )
        self._wait_ready(self._healthy, timeout, f"payment provider on {self.url}")
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    service = PaymentProviderService(args.run_dir, port=args.port).start()
    print(f"payment provider on {service.url} (ledger {service.ledger_path})", flush=True)
    print(f"  outage: python -m tools.provider --url {service.url} outage on|off", flush=True)
    StopRequest().wait_until_requested()
    service.stop()


if __name__ == "__main__":
    main()
