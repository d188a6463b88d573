"""``python -m tools.screenshots [--out docs/img]``: the runbook's Web UI pictures.

Runs a small stack of its own (a Temporal dev server with its Web UI wired to the codec
endpoint, the API on SQLite, the production workers, and a simulated provider it can take
down), parks an order in NEEDS_ATTENTION with a provider outage, ends the outage, and has
headless Chromium (Debian's ``chromium``, driven by ``shoot.mjs`` with playwright-core)
take: the list filtered on NEEDS_ATTENTION with the order's search attributes as columns,
the order's details, and the UI's signal dialog
sending ``retry`` -- then checks that the order reached CONFIRMED and pictures it. Needs
``apt-get install chromium`` and ``npm ci`` in tools/screenshots.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import urllib.parse
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import uvicorn

from api import create_app
from clients.temporal import connect_temporal
from config.settings import DatabaseSettings, SagaSettings, Settings, TemporalSettings
from devstack.process import free_port
from devstack.temporal import TemporalDevServer
from devstack.tokens import mint_token
from gateways.simulated_payment import SimulatedPaymentGateway
from messages import queues
from messages.queues import order_workflow_id
from persistence.database import create_engine, session_factory
from persistence.migrate import upgrade_async
from persistence.seed import CatalogItem, seed_catalog
from workers.runner import build_workers

HERE = Path(__file__).parent
# What the list shows of an order: its search attributes, as the UI has no Summary column.
LIST_COLUMNS = ("OrderStatus", "OrderTotal", "CustomerId")
CATALOG = (CatalogItem("sku-beans", "Espresso beans", Decimal("24.90"), 100, 0, 0),)


async def shoot(*args: str) -> None:
    """One step in Chromium, off the loop: the workers on it answer the UI's queries."""
    print("chromium:", args[0], args[2], flush=True)
    command = ["node", str(HERE / "shoot.mjs"), *args]
    await asyncio.to_thread(subprocess.run, command, check=True, timeout=180)


async def wait_status(http: httpx.AsyncClient, order_id: str, status: str) -> None:
    for _ in range(300):
        order = (await http.get(f"/orders/{order_id}")).json()
        if order.get("status") == status:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"order {order_id} never reached {status}: {order}")


async def run(out: Path) -> None:
    run_dir = Path(tempfile.mkdtemp(prefix="screenshots-"))
    api_url = f"http://127.0.0.1:{free_port()}"
    server = TemporalDevServer(run_dir / "temporal", ui_codec_endpoint=f"{api_url}/codec")
    await asyncio.to_thread(server.start)
    ui = server.ui_url or ""
    print(f"Temporal {server.address}, Web UI {ui}, API {api_url}", flush=True)
    settings = Settings(
        environment="dev",
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{run_dir / 'orders.db'}"),
        temporal=TemporalSettings(address=server.address, ui_url=ui),
        saga=SagaSettings(charge_budget_seconds=3),
    )
    engine = create_engine(settings.database)
    try:
        await upgrade_async(engine)
        await seed_catalog(session_factory(engine), CATALOG)
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
                    app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
                )
            )
            serving = asyncio.create_task(web.serve())
            while not web.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await asyncio.sleep(0.05)
            try:
                token = mint_token(settings.auth, "alice", "customer", email="alice@example.com")
                async with httpx.AsyncClient(
                    base_url=api_url, headers={"Authorization": f"Bearer {token}"}
                ) as http:
                    await _pictures(out, ui, http, provider)
            finally:
                web.should_exit = True
                await serving
    finally:
        await engine.dispose()
        await asyncio.to_thread(server.stop)


async def _pictures(
    out: Path, ui: str, http: httpx.AsyncClient, provider: SimulatedPaymentGateway
) -> None:
    order = {
        "items": [{"product_id": "sku-beans", "quantity": 2}],
        "payment": {"token": "tok_visa"},
    }
    confirmed = (await http.post("/orders", json=order)).json()["order_id"]
    await wait_status(http, confirmed, "CONFIRMED")
    provider.outage(True)
    parked = (await http.post("/orders", json=order)).json()["order_id"]
    await wait_status(http, parked, "NEEDS_ATTENTION")
    provider.outage(False)
    await asyncio.sleep(2)  # visibility catches up with the search attributes
    workflows = f"{ui}/namespaces/default/workflows"
    query = urllib.parse.quote('OrderStatus="NEEDS_ATTENTION"')
    await shoot(
        "list",
        f"{workflows}?query={query}",
        str(out / "needs-attention-list.png"),
        parked[:8],
        *LIST_COLUMNS,
    )
    page = f"{workflows}/{order_workflow_id(parked)}"
    await shoot("page", page, str(out / "needs-attention-details.png"), "NEEDS_ATTENTION")
    await shoot(
        "signal", page, str(out / "retry-signal-dialog.png"), "retry", '{"operator": "alice"}'
    )
    await wait_status(http, parked, "CONFIRMED")
    await shoot("page", page, str(out / "retried-confirmed.png"), "CONFIRMED")
    print(f"order {parked} retried from the UI and CONFIRMED; pictures in {out}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of the Web UI for the runbook.")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
