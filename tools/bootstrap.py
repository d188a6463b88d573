"""``python -m tools.bootstrap``: what a deployment needs before its processes start.

Idempotent, safe to run on every deploy (a k8s Job, a compose service): creates the
Temporal namespace (``ORDERS_TEMPORAL__NAMESPACE``) with its retention, registers the
search attributes the saga upserts (``messages.search_attributes``) after
checking they fit SQL visibility's per-type limits, and migrates the database. Prints
what it did.

On Temporal Cloud (``ORDERS_TEMPORAL__API_KEY`` set) it creates nothing in Temporal:
Cloud refuses those calls. It checks the namespace and its search attributes and prints
the ``tcld`` commands that create what is missing (tools/bootstrap_cloud.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from clients.temporal import connect_temporal
from config.settings import Settings, load_settings
from messages.search_attributes import SEARCH_ATTRIBUTES, kind_name
from persistence.migrate import upgrade
from persistence.seed import seed_database
from telemetry.logs import configure_logging
from telemetry.setup import announce_demo_allowance
from tools.bootstrap_cloud import check_cloud, cloud_plan

# Custom attributes SQL visibility (PostgreSQL, MySQL, SQLite) can hold per type: the
# columns of its schema (keyword_01..keyword_10, int_01..int_03, …).
SQL_VISIBILITY_LIMITS = {
    "Keyword": 10,
    "Text": 3,
    "Int": 3,
    "Double": 3,
    "Bool": 3,
    "Datetime": 3,
    "KeywordList": 3,
}
# A new namespace reaches every frontend's cache within this (the server refreshes it).
NAMESPACE_VISIBLE_WITHIN = 60.0


class BootstrapError(RuntimeError):
    """The deployment cannot be prepared as configured; the message says why."""


def _value(kind: str) -> IndexedValueType.ValueType:
    snake = "".join(f"_{c}" if c.isupper() else c for c in kind).lstrip("_").upper()
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{snake}")


def check_sql_limits(existing: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    """Refuse attributes whose type is unknown, that clash with an existing one, or that
    would exceed SQL visibility's columns of their type."""
    for name, kind in wanted.items():
        if kind not in SQL_VISIBILITY_LIMITS:
            raise BootstrapError(f"search attribute {name}: unknown type {kind!r}")
        if name in existing and existing[name] != kind:
            raise BootstrapError(
                f"search attribute {name} is registered as {existing[name]}, wanted {kind}"
            )
    after = Counter({**existing, **wanted}.values())
    over = {kind: n for kind, n in after.items() if n > SQL_VISIBILITY_LIMITS.get(kind, 0)}
    if over:
        detail = ", ".join(
            f"{n} {k} (max {SQL_VISIBILITY_LIMITS.get(k, 0)})" for k, n in over.items()
        )
        raise BootstrapError(f"too many custom search attributes for SQL visibility: {detail}")


async def ensure_namespace(client: Client, namespace: str, retention_days: int) -> str:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        return f"namespace {namespace}: exists"
    retention = Duration()
    retention.FromTimedelta(timedelta(days=retention_days))
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace, workflow_execution_retention_period=retention
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:  # another bootstrap was quicker
            raise
        return f"namespace {namespace}: exists"
    return f"namespace {namespace}: created, retention {retention_days} days"


async def _custom_attributes(client: Client, namespace: str) -> dict[str, str]:
    deadline = time.monotonic() + NAMESPACE_VISIBLE_WITHIN
    while True:
        try:
            listed = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            return {name: kind_name(kind) for name, kind in listed.custom_attributes.items()}
        except RPCError as exc:
            # A namespace created a moment ago may not be in this frontend's cache yet.
            if exc.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def ensure_search_attributes(
    client: Client, namespace: str, wanted: Mapping[str, str]
) -> list[str]:
    existing = await _custom_attributes(client, namespace)
    check_sql_limits(existing, wanted)
    missing = {name: kind for name, kind in wanted.items() if name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                search_attributes={name: _value(kind) for name, kind in missing.items()},
            )
        )
    return [
        f"search attribute {name} ({kind}): {'added' if name in missing else 'exists'}"
        for name, kind in wanted.items()
    ]


def on_temporal_cloud(settings: Settings) -> bool:
    """An API key is how Temporal Cloud is reached; a self-hosted server is reached by mTLS."""
    return bool(settings.temporal.api_key.get_secret_value())


async def bootstrap_temporal(settings: Settings) -> list[str]:
    client = await connect_temporal(settings.temporal)
    namespace = settings.temporal.namespace
    done = [f"Temporal at {client.service_client.config.target_host}"]
    if on_temporal_cloud(settings):
        return done + await _check_cloud(client, settings)
    done.append(
        await ensure_namespace(client, namespace, settings.temporal.namespace_retention_days)
    )
    done += await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
    return done


async def _check_cloud(client: Client, settings: Settings) -> list[str]:
    findings = await check_cloud(client, settings.temporal.namespace)
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, settings.temporal.namespace_retention_days)
    commands = [f"  {command}" for command in plan.commands]
    if plan.missing:
        found = "\n".join(plan.found)
        raise BootstrapError(
            f"{found}\ncreate what is missing with tcld, then run the bootstrap again:\n"
            + "\n".join(commands)
        )
    if commands:
        return [*plan.found, "if not done yet, create with tcld (run once):", *commands]
    return plan.found


def bootstrap(settings: Settings, *, migrate: bool = True, demo_catalog: bool = False) -> list[str]:
    if demo_catalog and settings.environment == "production" and not settings.demo_allowance:
        # A shop's catalog is its own: demo products in production only when it is a demo.
        raise BootstrapError("--demo-catalog in production needs ORDERS_DEMO_ALLOWANCE=true")
    done = asyncio.run(bootstrap_temporal(settings))
    if migrate:
        upgrade(settings.database.url)
        done.append(f"database {_redacted(settings.database.url)}: migrated to head")
    if demo_catalog:
        skus = asyncio.run(seed_database(settings.database))
        done.append(f"demo catalog: {len(skus)} products ({', '.join(skus)})")
    return done


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    return (
        f"{scheme}://{credentials.split(':')[0]}:***@{host}" if at and ":" in credentials else url
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-migrations", action="store_true", help="Temporal only")
    parser.add_argument(
        "--demo-catalog",
        action="store_true",
        help="then load the demo catalog (idempotent; in production only with the demo allowance)",
    )
    args = parser.parse_args()
    settings = load_settings()
    configure_logging(settings.telemetry)
    announce_demo_allowance(settings)
    try:
        for line in bootstrap(
            settings, migrate=not args.skip_migrations, demo_catalog=args.demo_catalog
        ):
            print(line, flush=True)
    except (BootstrapError, RPCError, RuntimeError) as exc:
        print(f"bootstrap failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
