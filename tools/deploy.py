"""Worker Versioning's deploy steps: see the builds, promote one, wait for one to drain.

    python -m tools.deploy status
    python -m tools.deploy promote --build-id B [--ramp PERCENT] [--wait SECONDS]
    python -m tools.deploy wait-drained --build-id A [--timeout SECONDS]

The Worker Deployment is ``ORDERS_WORKERS__DEPLOYMENT_NAME``; the connection is the
project's own (``ORDERS_TEMPORAL__*``: mTLS, API key, namespace). ``promote`` refuses a
build that has no poller on one of the four task queues (it names the queue): a saga
routed to it would wait there. ``wait-drained`` ends 0 once nothing pinned to the build
runs; 1 at the timeout, listing what still does. docs/versioning.md says when to run each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass

from temporalio.api.deployment.v1 import WorkerDeploymentVersion
from temporalio.api.enums.v1 import (
    TaskQueueType,
    VersionDrainageStatus,
    WorkerDeploymentVersionStatus,
)
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from clients.temporal import connect_temporal
from config.settings import Settings, load_settings
from messages import queues
from messages.queues import TaskQueues

IDENTITY = "tools.deploy"
# How often wait-drained asks; the server itself re-checks a draining version every
# matching.wv.VersionDrainageStatusRefreshInterval (3 minutes by default).
POLL_SECONDS = 2.0


class DeployError(RuntimeError):
    """A step that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class QueuePollers:
    queue: str
    kind: str
    pollers: tuple[str, ...]  # identities of this build's pollers


def _short(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).lower() or "-"


def _status(value: WorkerDeploymentVersionStatus.ValueType) -> str:
    return _short(WorkerDeploymentVersionStatus.Name(value), "WORKER_DEPLOYMENT_VERSION_STATUS_")


def _drainage(value: VersionDrainageStatus.ValueType) -> str:
    return _short(VersionDrainageStatus.Name(value), "VERSION_DRAINAGE_STATUS_")


class Deployments:
    """The Worker Deployment of Settings, through the client's workflow service."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._service = client.workflow_service
        self._namespace = settings.temporal.namespace
        self.name = settings.workers.deployment_name
        self._queues = TaskQueues.with_prefix(settings.temporal.task_queue_prefix)

    def label(self, build_id: str) -> str:
        return f"{self.name}:{build_id}"

    async def describe(self) -> str:
        """Current and ramping versions, and each version's status, drainage and pollers."""
        try:
            info = (
                await self._service.describe_worker_deployment(
                    DescribeWorkerDeploymentRequest(
                        namespace=self._namespace, deployment_name=self.name
                    )
                )
            ).worker_deployment_info
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return (
                    f"Worker Deployment {self.name} ({self._namespace}): none yet; it appears "
                    "when a versioned worker (ORDERS_WORKERS__BUILD_ID set) first polls"
                )
            raise
        routing = info.routing_config
        current = routing.current_deployment_version.build_id or "(none: unversioned workers)"
        lines = [f"Worker Deployment {self.name} ({self._namespace})", f"  current: {current}"]
        if routing.ramping_deployment_version.build_id:
            lines.append(
                f"  ramping: {routing.ramping_deployment_version.build_id} at "
                f"{routing.ramping_version_percentage:g}%"
            )
        for summary in info.version_summaries:
            build_id = summary.deployment_version.build_id
            status, drainage = _status(summary.status), _drainage(summary.drainage_info.status)
            pollers = await self.pollers(build_id)
            polled = ", ".join(f"{p.queue} {len(p.pollers)}" for p in pollers)
            lines.append(f"  version {build_id}: {status}, drainage {drainage}, pollers: {polled}")
        return "\n".join(lines)

    async def pollers(self, build_id: str) -> list[QueuePollers]:
        """Each of the four queues with the pollers this build has on it now."""
        found = []
        for name in queues.ALL:
            kind = (
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
                if name == queues.ORDERS
                else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
            )
            queue = getattr(self._queues, name)
            described = await self._service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self._namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
            identities = tuple(
                poller.identity
                for poller in described.pollers
                if poller.deployment_options.deployment_name == self.name
                and poller.deployment_options.build_id == build_id
            )
            found.append(
                QueuePollers(
                    queue=queue,
                    kind=_short(TaskQueueType.Name(kind), "TASK_QUEUE_TYPE_"),
                    pollers=identities,
                )
            )
        return found

    async def promote(self, build_id: str, ramp: float | None = None, *, wait: float = 0) -> str:
        """Make the build current (or ramping at ``ramp`` percent) once every queue has its
        pollers, waiting up to ``wait`` seconds for them; returns what was done."""
        deadline = time.monotonic() + wait
        while True:
            missing = [p for p in await self.pollers(build_id) if not p.pollers]
            if not missing or time.monotonic() >= deadline:
                break
            named = ", ".join(p.queue for p in missing)
            print(f"waiting for build {build_id}'s pollers on {named}", flush=True)
            await asyncio.sleep(POLL_SECONDS)
        if missing:
            named = ", ".join(f"{p.queue} ({p.kind})" for p in missing)
            raise DeployError(
                f"build {build_id} has no poller on {named}: start its workers "
                f"(ORDERS_WORKERS__BUILD_ID={build_id}) on every queue first"
            )
        if ramp is None:
            await self._service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=self._namespace,
                    deployment_name=self.name,
                    build_id=build_id,
                    identity=IDENTITY,
                )
            )
            return f"{self.label(build_id)} is current: new sagas start on it"
        await self._service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(
                namespace=self._namespace,
                deployment_name=self.name,
                build_id=build_id,
                percentage=ramp,
                identity=IDENTITY,
            )
        )
        return f"{self.label(build_id)} ramps at {ramp:g}% of new sagas"

    async def drainage(self, build_id: str) -> tuple[str, str]:
        """The version's status and drainage status (lower-case names)."""
        version = WorkerDeploymentVersion(deployment_name=self.name, build_id=build_id)
        request = DescribeWorkerDeploymentVersionRequest(
            namespace=self._namespace, deployment_version=version
        )
        described = await self._service.describe_worker_deployment_version(request)
        info = described.worker_deployment_version_info
        return _status(info.status), _drainage(info.drainage_info.status)

    async def pinned_running(self, build_id: str, limit: int = 20) -> list[str]:
        """Ids of running workflows pinned to the build (visibility, seconds behind)."""
        query = (
            f"TemporalWorkerDeploymentVersion = '{self.label(build_id)}' "
            "AND TemporalWorkflowVersioningBehavior = 'Pinned' "
            "AND ExecutionStatus = 'Running'"
        )
        return [execution.id async for execution in self._client.list_workflows(query, limit=limit)]

    async def wait_drained(self, build_id: str, *, seconds: float) -> bool:
        """Print progress until the build is drained; False after ``seconds``."""
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        while True:
            status, drainage = await self.drainage(build_id)
            if status in {"current", "ramping"}:
                raise DeployError(
                    f"{self.label(build_id)} is {status}: promote another build first "
                    "(python -m tools.deploy promote --build-id <new>)"
                )
            pinned = await self.pinned_running(build_id)
            elapsed = time.monotonic() - started
            print(
                f"[{elapsed:5.0f}s] {self.label(build_id)}: {status}, drainage {drainage}, "
                f"{len(pinned)} pinned workflow(s) running",
                flush=True,
            )
            if drainage == "drained" or status == "drained":
                return True
            if time.monotonic() >= deadline:
                print(f"still pinned to {build_id}: {', '.join(pinned) or '(none listed yet)'}")
                return False
            await asyncio.sleep(POLL_SECONDS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploy", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="the deployment's versions, drainage and pollers")
    promote = commands.add_parser("promote", help="make a build current (or ramping)")
    promote.add_argument("--build-id", required=True)
    promote.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for the build's pollers (a rollout's pods starting) before refusing",
    )
    promote.add_argument(
        "--ramp",
        type=float,
        metavar="PERCENT",
        help="ramp this share of new sagas to the build instead of making it current",
    )
    drained = commands.add_parser("wait-drained", help="wait until nothing pinned to it runs")
    drained.add_argument("--build-id", required=True)
    drained.add_argument("--timeout", type=float, default=3600.0, metavar="SECONDS")
    args = parser.parse_args(argv)
    if getattr(args, "ramp", None) is not None and not 0 <= args.ramp <= 100:
        parser.error("--ramp takes a percentage from 0 to 100")
    return args


async def run(args: argparse.Namespace, settings: Settings) -> int:
    client = await connect_temporal(settings.temporal)
    deployments = Deployments(client, settings)
    print(f"Temporal {settings.temporal.address}, namespace {settings.temporal.namespace}")
    if args.command == "status":
        print(await deployments.describe())
        return 0
    if args.command == "promote":
        print(f"promoting {deployments.label(args.build_id)}: checking its pollers")
        print(await deployments.promote(args.build_id, args.ramp, wait=args.wait))
        return 0
    print(f"waiting up to {args.timeout:g}s for {deployments.label(args.build_id)} to drain")
    if await deployments.wait_drained(args.build_id, seconds=args.timeout):
        print(f"{deployments.label(args.build_id)} is drained: its workers may stop")
        return 0
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args, load_settings()))
    except DeployError as exc:
        print(f"tools.deploy: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = main()
    # The SDK's native threads can call into Python while the interpreter finalizes, which
    # aborts the process (SIGABRT, seen after a successful promote) and would report a
    # done step as a crash: flush and end here, as workers/runner.py does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
