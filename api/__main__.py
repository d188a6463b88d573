"""``python -m api [--workers N]``: serve the API with uvicorn on settings.api host/port.

With ``--workers N`` and a metrics port, this (supervising) process serves the metrics of
all N worker processes, summed through prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from api.app import create_app
from config.settings import load_settings
from telemetry.metrics import prepare_multiprocess_dir, serve_multiprocess_metrics
from telemetry.setup import API_SERVICE, announce_demo_allowance, configure_telemetry

# Uvicorn's loggers go through ours (JSON, with context) instead of its own handlers, and
# api.access_log writes the access lines (with route, duration and request id).
LOGGING: dict[str, Any] = {"log_config": None, "access_log": False}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    settings = load_settings()
    host, port = settings.api.host, settings.api.port
    if args.workers > 1:
        # Logging here; this process's own metrics port is the workers' summed endpoint.
        configure_telemetry(
            settings.telemetry.model_copy(update={"metrics_port": 0}), service_name=API_SERVICE
        )
        announce_demo_allowance(settings)
        if settings.telemetry.metrics_port:
            # Before uvicorn spawns the workers, so they inherit the folder's variable.
            folder = prepare_multiprocess_dir()
            serve_multiprocess_metrics(settings.telemetry.metrics_port, "api", folder)
        # Each process builds its own app (and connections) from the environment.
        uvicorn.run(
            "api.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            **LOGGING,
        )
        return
    configure_telemetry(settings.telemetry, service_name=API_SERVICE)
    announce_demo_allowance(settings)
    uvicorn.run(create_app(settings), host=host, port=port, **LOGGING)


if __name__ == "__main__":
    main()
