"""Worker Versioning's settings (docs/versioning.md): a build id makes every pool poll as a
version of the Worker Deployment; none leaves the workers unversioned; a name or id the
Temporal server (or a Kubernetes label) would refuse is refused here, naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.common import VersioningBehavior

from config.settings import Settings, WorkerSettings
from workers.runner import deployment_config


def test_a_build_id_makes_the_pools_poll_as_a_version_of_the_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERS_WORKERS__BUILD_ID", "1.5.0")
    monkeypatch.setenv("ORDERS_WORKERS__DEPLOYMENT_NAME", "shop-orders")
    config = deployment_config(Settings().workers)
    assert config is not None
    assert config.use_worker_versioning
    assert (config.version.deployment_name, config.version.build_id) == ("shop-orders", "1.5.0")
    # Every workflow pinned, as the worker's default: a @workflow.defn stating it would be
    # refused by the server from the unversioned workers of make dev and the tests.
    assert config.default_versioning_behavior == VersioningBehavior.PINNED


def test_without_a_build_id_the_workers_stay_unversioned() -> None:
    assert WorkerSettings().deployment_name == "order-saga"
    assert deployment_config(WorkerSettings()) is None


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("build_id", "__internal", "ORDERS_WORKERS__BUILD_ID"),
        ("build_id", "release/1.5", "ORDERS_WORKERS__BUILD_ID"),
        ("build_id", "1.5.0-", "ORDERS_WORKERS__BUILD_ID"),
        ("build_id", "x" * 64, "ORDERS_WORKERS__BUILD_ID"),
        ("deployment_name", "", "ORDERS_WORKERS__DEPLOYMENT_NAME"),
        ("deployment_name", "order.saga", "ORDERS_WORKERS__DEPLOYMENT_NAME"),
        ("deployment_name", "order:saga", "ORDERS_WORKERS__DEPLOYMENT_NAME"),
    ],
)
def test_a_name_the_server_would_refuse_is_refused_naming_the_setting(
    field: str, value: str, variable: str
) -> None:
    with pytest.raises(ValidationError, match=variable):
        WorkerSettings.model_validate({field: value})
