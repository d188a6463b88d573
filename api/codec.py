"""``python -m api.codec``: the payload codec endpoint as a process of its own.

Decoding shows customers' data, so a deployment keeps it off the public port: this serves
``/codec/decode`` and ``/codec/encode`` (api/codec_server.py) plus ``/healthz`` on
``ORDERS_API__HOST``:``ORDERS_API__CODEC_PORT``, for the Web UI and operators' CLIs on
the private network, while the public API runs with ``ORDERS_API__SERVE_CODEC=false``.
It needs no database and no Temporal connection: the keys and the token verifier only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from api.auth import TokenVerifier
from api.codec_server import codec_app
from api.deps import Resources
from api.services.catalog import CatalogCache
from api.services.maintenance import MaintenanceSwitch
from config.settings import Settings, load_settings
from messages.queues import TaskQueues
from telemetry.setup import announce_demo_allowance, configure_telemetry

__all__ = ["CODEC_SERVICE", "create_codec_app", "main"]

CODEC_SERVICE = "order-codec"


def create_codec_app(settings: Settings) -> FastAPI:
    """The codec endpoint under ``/codec`` (the path the public API used), and ``/healthz``."""
    resources = Resources(
        settings=settings,
        queues=TaskQueues.with_prefix(settings.temporal.task_queue_prefix),
        verifier=TokenVerifier(settings.auth),
        # Unused here: Resources is the API's, and the codec reads only its verifier.
        catalog=CatalogCache(0),
        maintenance=MaintenanceSwitch(settings.api),
    )
    app = FastAPI(title="Payload codec", openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    app.mount("/codec", codec_app(settings, resources))
    return app


def main() -> None:
    import uvicorn  # noqa: PLC0415  # only the process needs the server, not the factory's users

    settings = load_settings()
    configure_telemetry(settings.telemetry, service_name=CODEC_SERVICE)
    announce_demo_allowance(settings)
    tls = settings.api
    for name, path in (
        ("ORDERS_API__CODEC_TLS_CERT_PATH", tls.codec_tls_cert_path),
        ("ORDERS_API__CODEC_TLS_KEY_PATH", tls.codec_tls_key_path),
    ):
        if path and not Path(path).is_file():
            raise SystemExit(f"{name}: no file at {path}")
    uvicorn.run(
        create_codec_app(settings),
        host=settings.api.host,
        port=settings.api.codec_port,
        ssl_certfile=tls.codec_tls_cert_path or None,
        ssl_keyfile=tls.codec_tls_key_path or None,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
