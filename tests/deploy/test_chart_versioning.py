"""The chart under Worker Versioning (docs/versioning.md): one worker Deployment and KEDA
ScaledObject per live build per queue, each polling and scaling as its own build, and a
post-install/post-upgrade hook that promotes the current build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from messages import queues
from tests.deploy import policy, tools

pytestmark = pytest.mark.integration

Doc = dict[str, Any]
TWO_BUILDS = {
    "builds": [
        {"id": "1.4.0"},
        {"id": "1.5.0", "digest": "sha256:" + "ab" * 32},
    ],
    "currentBuild": "1.5.0",
}
SELFHOSTED = tools.VALUES_FILES["selfhosted-mtls"]


def render_with(tmp_path: Path, values: dict[str, Any]) -> list[Doc]:
    extra = tmp_path / "builds.yaml"
    extra.write_text(yaml.safe_dump(values))
    return tools.render([*SELFHOSTED, extra])


def workers_of(docs: list[Doc], kind: str, queue: str) -> list[Doc]:
    return [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["labels"]["app.kubernetes.io/component"] == f"worker-{queue}"
    ]


def test_two_builds_run_two_pools_per_queue_each_polling_and_scaling_as_its_build(
    tmp_path: Path,
) -> None:
    docs = render_with(tmp_path, TWO_BUILDS)
    repository = yaml.safe_load((SELFHOSTED[0]).read_text())["image"]["repository"]
    images = {"1.4.0": f"{repository}:1.4.0", "1.5.0": f"{repository}@sha256:{'ab' * 32}"}
    for queue in queues.ALL:
        deployments = workers_of(docs, "Deployment", queue)
        by_build = {d["metadata"]["labels"]["order-saga/build"]: d for d in deployments}
        assert sorted(by_build) == ["1.4.0", "1.5.0"], queue
        scalers = workers_of(docs, "ScaledObject", queue)
        scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in scalers}
        for build, deployment in by_build.items():
            name = deployment["metadata"]["name"]
            assert name == f"order-saga-worker-{queue}-{build.replace('.', '-')}"
            assert deployment["spec"]["selector"]["matchLabels"]["order-saga/build"] == build
            (container,) = policy.pod_spec(deployment)["containers"]
            env = policy.literal_env(container)
            assert env["ORDERS_WORKERS__BUILD_ID"] == build
            assert env["ORDERS_WORKERS__DEPLOYMENT_NAME"] == "order-saga"
            assert container["image"] == images[build]
            (trigger,) = scaled[name]["spec"]["triggers"]
            assert trigger["metadata"]["workerDeploymentName"] == "order-saga"
            assert trigger["metadata"]["workerDeploymentBuildId"] == build
            assert trigger["metadata"]["taskQueue"] == queue
        (service,) = workers_of(docs, "Service", queue)
        assert "order-saga/build" not in service["spec"]["selector"], "Prometheus sees every build"
        assert len(workers_of(docs, "PodDisruptionBudget", queue)) == 2


def test_the_hook_promotes_the_current_build_with_its_own_image(tmp_path: Path) -> None:
    docs = render_with(tmp_path, TWO_BUILDS)
    (job,) = [d for d in docs if d["kind"] == "Job" and "-promote-" in d["metadata"]["name"]]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    (container,) = policy.pod_spec(job)["containers"]
    command = container["command"]
    assert command[:6] == ["python", "-m", "tools.deploy", "promote", "--build-id", "1.5.0"]
    assert "--wait" in command
    assert container["image"].endswith("@sha256:" + "ab" * 32)
    newest_last = render_with(tmp_path, {"builds": TWO_BUILDS["builds"]})
    (job,) = [d for d in newest_last if d["kind"] == "Job" and "-promote-" in d["metadata"]["name"]]
    assert policy.pod_spec(job)["containers"][0]["command"][5] == "1.5.0"


def test_two_builds_keep_the_policy_and_validate_against_the_schemas(tmp_path: Path) -> None:
    docs = render_with(tmp_path, TWO_BUILDS)
    for check, run in policy.CHECKS.items():
        assert run(docs) == [], check
    result = tools.kubeconform(docs)
    assert result.valid, result.errors


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        ({**TWO_BUILDS, "currentBuild": "1.6.0"}, 'currentBuild "1.6.0" is not one of builds'),
        ({"builds": [{"id": "__1.5"}]}, "is not a build id"),
        ({"builds": [{"id": "1.5.0"}, {"id": "1-5-0"}]}, "name the same objects"),
    ],
)
def test_the_chart_refuses_builds_that_cannot_run(
    tmp_path: Path, values: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(tools.RenderError, match=refusal):
        render_with(tmp_path, values)
