"""The bootstrap's Temporal part on Temporal Cloud (``ORDERS_TEMPORAL__API_KEY`` set).

Cloud refuses what a self-hosted bootstrap does: a namespace is created, and search
attributes are added, through Cloud's own control plane (``tcld`` or the Cloud UI), never
through the frontend's RegisterNamespace or the operator service's AddSearchAttributes.
So here the bootstrap only reads: is the namespace there, which search attributes does
it hold (when the key may list them). It makes no call that creates anything, and prints
the ``tcld`` commands that create what is missing. A missing namespace or attribute fails
the bootstrap (the processes could not run without it); one it cannot check is named in
a command to run once, and the bootstrap goes on.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from messages.search_attributes import kind_name

__all__ = ["CloudFindings", "CloudPlan", "check_cloud", "cloud_plan"]


@dataclass
class CloudFindings:
    """What the bootstrap could read of the Cloud namespace; None: could not tell."""

    namespace: str
    namespace_exists: bool | None
    # Custom attributes registered on the namespace, when the key may list them.
    attributes: dict[str, str] | None
    why_unknown: list[str] = field(default_factory=list)


async def check_cloud(client: Client, namespace: str) -> CloudFindings:
    """Only reads: DescribeNamespace and ListSearchAttributes."""
    findings = CloudFindings(namespace, namespace_exists=None, attributes=None)
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        findings.namespace_exists = True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            findings.namespace_exists = False
            return findings
        findings.why_unknown.append(f"namespace {namespace}: cannot describe it ({exc.message})")
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        findings.attributes = {
            name: kind_name(kind) for name, kind in listed.custom_attributes.items()
        }
    except RPCError as exc:
        findings.why_unknown.append(f"search attributes: cannot list them ({exc.message})")
    return findings


def _short_name(namespace: str) -> str:
    """``orders.a1b2c`` -> ``orders``: tcld creates a namespace by its name, and Cloud adds
    the account id."""
    return namespace.partition(".")[0]


@dataclass
class CloudPlan:
    """What the bootstrap found, the ``tcld`` commands that create what is (or may be)
    missing, and whether something is known to be missing (then the bootstrap fails)."""

    found: list[str]
    commands: list[str]
    missing: bool


def _flags(attributes: Mapping[str, str]) -> str:
    return " ".join(f"--search-attribute {shlex.quote(f'{n}={k}')}" for n, k in attributes.items())


def cloud_plan(
    findings: CloudFindings, wanted: Mapping[str, str], retention_days: int
) -> CloudPlan:
    namespace = findings.namespace
    found = [
        "Temporal Cloud (ORDERS_TEMPORAL__API_KEY is set): namespaces and search attributes "
        "are created with tcld, not by this bootstrap",
        *findings.why_unknown,
    ]
    quoted = shlex.quote(namespace)
    add = f"tcld namespace search-attributes add --namespace {quoted} "
    if findings.namespace_exists is False:
        found.append(f"namespace {namespace}: not found")
        create = (
            f"tcld namespace create --namespace {shlex.quote(_short_name(namespace))} "
            f"--region <region> --retention-days {retention_days} --auth-method api_key "
        )
        return CloudPlan(found, [create + _flags(wanted)], missing=True)
    if findings.namespace_exists:
        found.append(f"namespace {namespace}: exists")
    if findings.attributes is None:
        # Cannot tell: the command is safe to run once (tcld refuses a duplicate).
        return CloudPlan(found, [add + _flags(wanted)] if wanted else [], missing=False)
    registered = findings.attributes
    absent = {n: k for n, k in wanted.items() if n not in registered}
    wrong = {n: k for n, k in wanted.items() if n in registered and registered[n] != k}
    for name, kind in wanted.items():
        state = "exists" if name in registered else "missing"
        if name in wrong:
            state = f"registered as {registered[name]}, wanted {kind}"
        found.append(f"search attribute {name} ({kind}): {state}")
    commands = [add + _flags(absent)] if absent else []
    if wrong:
        commands.append(
            "# a search attribute's type cannot change: rename the old one (tcld namespace "
            f"search-attributes rename), then add {', '.join(f'{n}={k}' for n, k in wrong.items())}"
        )
    return CloudPlan(found, commands, missing=bool(absent or wrong))
