"""``python -m tools.screenshots [--out docs/img]``: the runbook's Web UI pictures.

Runs a small stack of its own: Keycloak with the project's realm, a Temporal dev server, the
Web UI server signing people in at Keycloak and passing their access token to the codec
endpoint (devstack/temporal_ui.py, as ``make dev ARGS=--production`` runs it), the API on
SQLite over HTTPS (a self-signed loopback certificate Chromium is told to trust) trusting
Keycloak's tokens, the production workers, and a simulated provider it can
take down. Then tools/screenshots/pictures.py parks an order and has headless Chromium
(Debian's ``chromium``, driven by ``shoot.mjs`` with playwright-core) sign in as the demo
operator and the demo support user, picture the pages and send ``retry`` from the UI's
dialog. Needs ``apt-get install chromium`` and ``npm ci`` in tools/screenshots.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import uvicorn

from api import create_app
from clients.temporal import connect_temporal
from config.settings import (
    CodecSettings,
    DatabaseSettings,
    SagaSettings,
    Settings,
    TemporalSettings,
)
from devstack.certificates import LoopbackCertificate, loopback_certificate
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import UI_CLIENT, client_secret, demo_users
from devstack.process import free_port
from devstack.temporal import TemporalDevServer
from devstack.temporal_ui import TemporalWebUI, UILogin
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade_async
from persistence.seed import DEV_CATALOG, seed_catalog
from tools.screenshots.browser import Person
from tools.screenshots.pictures import WebUIStage, take_pictures
from workers.runner import build_workers


def person(role: str) -> Person:
    """The realm's demo user holding ``role``."""
    user = next(user for user in demo_users() if role in user.roles)
    return Person(user.username, user.password)


async def run(out: Path) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="screenshots-"))
    keycloak = Keycloak(run_dir / "keycloak")
    server = TemporalDevServer(run_dir / "temporal", headless=True)
    # HTTPS: the UI passes a signed-in user's token to an https:// codec endpoint only.
    api_url = f"https://127.0.0.1:{free_port()}"
    tls = loopback_certificate(run_dir / "https")
    async with AsyncExitStack() as stack:
        stack.callback(keycloak.stop)
        await asyncio.to_thread(keycloak.start)
        stack.callback(server.stop)
        await asyncio.to_thread(server.start)
        ui = TemporalWebUI(
            run_dir / "temporal-ui",
            server.address,
            login=UILogin(keycloak.issuer, UI_CLIENT, client_secret(UI_CLIENT)),
            codec_endpoint=f"{api_url}/codec",
        )
        stack.callback(ui.stop)
        await asyncio.to_thread(ui.start)
        print(
            f"Keycloak {keycloak.url}, Temporal {server.address}, Web UI {ui.url}, API {api_url}",
            flush=True,
        )
        settings = Settings(
            environment="dev",
            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{run_dir / 'orders.db'}"),
            temporal=TemporalSettings(
                address=server.address, ui_url=ui.url, codec=CodecSettings(cors_origins=[ui.url])
            ),
            saga=SagaSettings(charge_budget_seconds=3),
            auth=keycloak.auth_settings(),
        )
        await _serve_and_picture(settings, api_url, tls, ui.url, keycloak, out)


async def _serve_and_picture(  # noqa: PLR0917  # private; the stack's parts, each once
    settings: Settings,
    api_url: str,
    tls: LoopbackCertificate,
    ui_url: str,
    keycloak: Keycloak,
    out: Path,
) -> None:
    engine = create_engine(settings.database)
    try:
        await upgrade_async(engine)
        await seed_catalog(session_factory(engine), DEV_CATALOG)
        client = await connect_temporal(settings.temporal)
        provider = SimulatedPaymentGateway()
        app = create_app(settings)
        async with AsyncExitStack() as stack:
            for worker in build_workers(
                list(queues.ALL), client, engine, settings, payment_gateway=provider
            ):
                await stack.enter_async_context(worker)
            await stack.enter_async_context(app.router.lifespan_context(app))
            port = int(api_url.rsplit(":", 1)[1])
            web = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=port,
                    lifespan="off",
                    log_level="warning",
                    ssl_certfile=tls.cert,
                    ssl_keyfile=tls.key,
                )
            )
            serving = asyncio.create_task(web.serve())
            while not web.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await asyncio.sleep(0.05)
            try:
                customer = person("customer")
                token = keycloak.access_token(customer.username, customer.password)
                async with httpx.AsyncClient(
                    base_url=api_url,
                    headers={"Authorization": f"Bearer {token}"},
                    verify=str(tls.cert),
                ) as http:
                    stage = WebUIStage(
                        ui_url,
                        settings.temporal.namespace,
                        http,
                        provider.outage,
                        person("operator"),
                        person("support"),
                        next(u.email for u in demo_users() if u.username == customer.username),
                        tls.spki_sha256,
                    )
                    await take_pictures(stage, out)
            finally:
                web.should_exit = True
                await serving
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the Web UI for the runbook.")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
