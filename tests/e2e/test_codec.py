"""Customer data stays out of Temporal's stores: the CLI shows an order's history without
the e-mail or the payment token; the codec endpoint (real HTTP, as the CLI and the Web UI
call it) decodes it for an operator only, and logs who decoded."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from config.settings import TemporalSettings
from messages.queues import order_workflow_id
from tests.e2e.harness import Api, serve_http
from tests.e2e.test_waiting_states import temporal

# The token's own address: a customer's notices go to the e-mail its token verified.
EMAIL = "cust-codec@example.com"
TOKEN = "tok_codecCheckSecret"


async def placed_order(api: Api) -> str:
    placed = await api.place("cust-codec", token=TOKEN, email=EMAIL)
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["order_id"]
    await api.wait_for(order_id, "cust-codec", {"CONFIRMED"})
    return order_id


async def test_the_history_shows_no_customer_data_but_the_codec_endpoint_does_for_operators(
    api: Api, temporal_settings: TemporalSettings
) -> None:
    """`temporal workflow show` has neither the e-mail nor the token (base64 or clear); the
    same command through the codec endpoint with an operator token has both."""
    order_id = await placed_order(api)
    workflow = order_workflow_id(order_id)

    shown = await temporal(
        temporal_settings, "workflow", "show", "--workflow-id", workflow, "-o", "json"
    )

    for secret in (EMAIL, TOKEN):
        assert secret not in shown
        assert base64.b64encode(secret.encode()).decode()[:12] not in shown
    assert base64.b64encode(b"binary/encrypted").decode() in shown
    async with serve_http(api) as base:
        endpoint = f"{base}/codec"
        operator = api.auth("ops-olga", "operator")["Authorization"]
        decoded = await temporal(
            temporal_settings,
            "workflow",
            "show",
            "--workflow-id",
            workflow,
            "-o",
            "json",
            "--codec-endpoint",
            endpoint,
            "--codec-auth",
            operator,
        )
    started = json.loads(decoded)["events"][0]["workflowExecutionStartedEventAttributes"]
    [saga_input] = started["input"]["payloads"]
    assert base64.b64decode(saga_input["metadata"]["encoding"]) == b"json/plain"
    readable = base64.b64decode(saga_input["data"]).decode()
    assert EMAIL in readable
    assert TOKEN in readable


async def test_only_operators_decode_and_each_decode_is_logged_without_the_payload(
    api: Api, temporal_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The started event's input: readable through /codec/decode with an operator token;
    401 without a token (the test environment is not dev), 403 for every other role (a
    customer, support, a catalog admin). The decode is logged with the operator's subject,
    and the log holds none of the decoded data."""
    order_id = await placed_order(api)
    handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = json_format.MessageToDict(Payloads(payloads=started.input.payloads))
    ui = {"Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}

    nobody = await api.http.post("/codec/decode", json=body, headers=ui)
    assert nobody.status_code == 401
    for subject, role in (("cust-codec", "customer"), ("sam", "support"), ("cat", "catalog-admin")):
        refused = await api.http.post(
            "/codec/decode", json=body, headers=ui | api.auth(subject, role)
        )
        assert refused.status_code == 403, (role, refused.text)
        assert EMAIL not in refused.text

    with caplog.at_level(logging.INFO, logger="api.codec_server"):
        operator = await api.http.post(
            "/codec/decode", json=body, headers=ui | api.auth("ops-olga", "operator")
        )
    assert operator.status_code == 200, operator.text
    [payload] = operator.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert EMAIL in base64.b64decode(payload["data"]).decode()
    decodes = [r for r in caplog.records if r.name == "api.codec_server"]
    assert [r.getMessage() for r in decodes] == ["codec decode by ops-olga: 1 payloads"]
    assert decodes[0].__dict__["subject"] == "ops-olga"
    assert EMAIL not in caplog.text
    assert TOKEN not in caplog.text

    encoded = await api.http.post(
        "/codec/encode", json=operator.json(), headers=ui | api.auth("ops-olga", "operator")
    )
    [again] = encoded.json()["payloads"]
    assert base64.b64decode(again["metadata"]["encoding"]) == b"binary/encrypted"
