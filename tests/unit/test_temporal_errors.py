"""How the API reads Temporal's NOT_FOUND: a missing workflow is the caller's answer, a
missing namespace is the workflow service being unavailable (retried by clients)."""

from __future__ import annotations

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure, NotFoundFailure
from temporalio.service import RPCError, RPCStatusCode

from api.errors import DependencyUnavailableError
from api.services.workflows import temporal_errors


def _not_found(message: str, detail: NamespaceNotFoundFailure | NotFoundFailure) -> RPCError:
    packed = AnyProto()
    packed.Pack(detail)
    status = GrpcStatus(code=RPCStatusCode.NOT_FOUND.value, message=message, details=[packed])
    return RPCError(message, RPCStatusCode.NOT_FOUND, status.SerializeToString())


def test_a_namespace_the_cluster_reports_missing_is_the_workflow_service_unavailable() -> None:
    """After PostgreSQL's restart a cluster node answers "Namespace orders is not found" for
    a while; the API answers 503 (clients retry) instead of a 500."""
    error = _not_found(
        "Namespace orders is not found.", NamespaceNotFoundFailure(namespace="orders")
    )
    with pytest.raises(DependencyUnavailableError), temporal_errors():
        raise error


def test_a_missing_workflow_stays_the_callers_not_found() -> None:
    error = _not_found("workflow not found", NotFoundFailure(current_cluster="active"))
    with pytest.raises(RPCError) as raised, temporal_errors():
        raise error
    assert raised.value.status == RPCStatusCode.NOT_FOUND
