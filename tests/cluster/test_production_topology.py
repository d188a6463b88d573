"""What `make dev ARGS=--production` hands its processes (checked without starting it;
the same parts run for real in the other tests of this folder)."""

from __future__ import annotations

from pathlib import Path

from config.settings import Settings
from devstack.production import NAMESPACE, ProductionOptions, ProductionStack
from messages import queues


def test_processes_get_both_frontends_over_mtls_and_one_worker_per_queue(
    tmp_path: Path,
) -> None:
    production = ProductionStack(ProductionOptions(run_dir=tmp_path, api_port=0, ui_port=0))
    env = production.temporal_env()
    frontends = env["ORDERS_TEMPORAL__ADDRESS"].split(",")
    assert frontends == [node.address for node in production.temporal.nodes]
    assert len(set(frontends)) == 2
    assert env["ORDERS_TEMPORAL__NAMESPACE"] == NAMESPACE
    assert production.stack.options.worker_groups == [[name] for name in queues.ALL]
    settings = Settings.model_validate(
        {"temporal": {k.removeprefix("ORDERS_TEMPORAL__").lower(): v for k, v in env.items()}}
    )
    assert settings.temporal.addresses == frontends
    assert settings.temporal.tls_enabled
    assert settings.temporal.tls_client_cert_path.startswith(str(tmp_path))
