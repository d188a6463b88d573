"""Customer data stays out of Temporal's stores: the CLI shows an order's history without
the e-mail or the payment token; the codec endpoint (real HTTP, as the CLI and the Web UI
call it) decodes it for an admin only."""

from __future__ import annotations

import base64
import json

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from config.settings import TemporalSettings
from messages.queues import order_workflow_id
from tests.e2e.harness import Api, serve_http
from tests.e2e.test_waiting_states import temporal

EMAIL = "codec-check@example.com"
TOKEN = "tok_codecCheckSecret"


async def placed_order(api: Api) -> str:
    placed = await api.place("cust-codec", token=TOKEN, email=EMAIL)
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["order_id"]
    await api.wait_for(order_id, "cust-codec", {"CONFIRMED"})
    return order_id


async def test_the_history_shows_no_customer_data_but_the_codec_endpoint_does_for_admins(
    api: Api, temporal_settings: TemporalSettings
) -> None:
    """`temporal workflow show` has neither the e-mail nor the token (base64 or clear); the
    same command through the codec endpoint with an admin token has both."""
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
        admin = api.auth("ops-admin", "admin")["Authorization"]
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
            admin,
        )
    started = json.loads(decoded)["events"][0]["workflowExecutionStartedEventAttributes"]
    [saga_input] = started["input"]["payloads"]
    assert base64.b64decode(saga_input["metadata"]["encoding"]) == b"json/plain"
    readable = base64.b64decode(saga_input["data"]).decode()
    assert EMAIL in readable
    assert TOKEN in readable


async def test_the_codec_endpoint_needs_an_admin(api: Api, temporal_client: Client) -> None:
    """The started event's input: readable through /codec/decode with an admin token; 401
    without a token (the test environment is not dev), 403 for a customer."""
    order_id = await placed_order(api)
    handle = temporal_client.get_workflow_handle(order_workflow_id(order_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = json_format.MessageToDict(Payloads(payloads=started.input.payloads))
    ui = {"Origin": "http://127.0.0.1:8233", "X-Namespace": "default"}

    nobody = await api.http.post("/codec/decode", json=body, headers=ui)
    customer = await api.http.post("/codec/decode", json=body, headers=ui | api.auth("cust-codec"))
    admin = await api.http.post(
        "/codec/decode", json=body, headers=ui | api.auth("ops-admin", "admin")
    )

    assert nobody.status_code == 401
    assert customer.status_code == 403
    assert admin.status_code == 200, admin.text
    [payload] = admin.json()["payloads"]
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
    assert EMAIL in base64.b64decode(payload["data"]).decode()
    encoded = await api.http.post(
        "/codec/encode", json=admin.json(), headers=ui | api.auth("ops-admin", "admin")
    )
    [again] = encoded.json()["payloads"]
    assert base64.b64decode(again["metadata"]["encoding"]) == b"binary/encrypted"
