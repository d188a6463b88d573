"""The bootstrap as it runs against Temporal Cloud (an API key set), on the real cluster:
it reads, creates nothing, and fails with the tcld commands for what is missing.

The cluster checks no API key (it authenticates by mTLS and lets the key's header pass),
so it stands in for Cloud's frontend: whatever the bootstrap would have created would be
there afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from clients.temporal import connect_temporal
from config.settings import Settings, TemporalSettings
from devstack.temporal_cluster import TemporalCluster
from messages.search_attributes import SEARCH_ATTRIBUTES
from tests.cluster.conftest import NAMESPACE, cluster_temporal_settings
from tools.bootstrap import BootstrapError, bootstrap_temporal
from tools.bootstrap_cloud import check_cloud


def _on_cloud(cluster: TemporalCluster, namespace: str) -> Settings:
    temporal = cluster_temporal_settings(cluster).model_copy(
        update={"namespace": namespace, "api_key": SecretStr("cloud-api-key")}
    )
    return Settings(temporal=temporal)


async def _client(cluster: TemporalCluster) -> Client:
    return await connect_temporal(cluster_temporal_settings(cluster))


async def test_a_missing_namespace_is_not_created_and_tcld_is_named(
    temporal_cluster: TemporalCluster,
) -> None:
    namespace = f"cloud-{uuid.uuid4().hex[:8]}"
    with pytest.raises(BootstrapError) as refused:
        await bootstrap_temporal(_on_cloud(temporal_cluster, namespace))
    assert f"tcld namespace create --namespace {namespace} " in str(refused.value)
    client = await _client(temporal_cluster)
    with pytest.raises(RPCError) as missing:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_missing_search_attributes_are_not_added_and_tcld_is_named(
    temporal_cluster: TemporalCluster,
) -> None:
    namespace = f"cloud-{uuid.uuid4().hex[:8]}"
    client = await _client(temporal_cluster)
    retention = Duration()
    retention.FromTimedelta(timedelta(days=1))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
    settings = _on_cloud(temporal_cluster, namespace)
    # A namespace this young may not be in every frontend's cache: wait until it lists.
    cloud = await connect_temporal(settings.temporal)
    for _ in range(60):
        if (await check_cloud(cloud, namespace)).attributes is not None:
            break
        await asyncio.sleep(1.0)
    with pytest.raises(BootstrapError) as refused:
        await bootstrap_temporal(settings)
    message = str(refused.value)
    assert f"tcld namespace search-attributes add --namespace {namespace} " in message
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"{name}={kind}" in message
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    assert not set(SEARCH_ATTRIBUTES) & set(listed.custom_attributes)


async def test_a_namespace_with_everything_passes_without_a_command(
    temporal_cluster: TemporalCluster, temporal_settings: TemporalSettings
) -> None:
    """The session's namespace, bootstrapped the self-hosted way, has it all."""
    done = await bootstrap_temporal(_on_cloud(temporal_cluster, NAMESPACE))
    assert f"namespace {NAMESPACE}: exists" in done
    assert not any(line.lstrip().startswith("tcld") for line in done)
