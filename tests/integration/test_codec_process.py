"""The payload codec off the public port: ``python -m api.codec`` serves it on its own
port, and the public API with ``ORDERS_API__SERVE_CODEC=false`` does not."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from api.app import create_app
from clients.codec import EncryptionCodec, new_key
from config.settings import AuthSettings, Settings
from devstack.process import free_port
from devstack.tokens import mint_token

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUTH = AuthSettings(
    jwt_secret="codec-process-test-secret-0123456789abcdef",  # this test's own
    issuer="codec-test-issuer",
    audience="codec-test",
)
KEY_ID = "k1"
KEY = new_key()


@pytest.fixture
def codec_process(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env |= {
        "ORDERS_ENVIRONMENT": "test",
        "ORDERS_API__CODEC_PORT": str(port),
        "ORDERS_AUTH__JWT_SECRET": AUTH.jwt_secret,
        "ORDERS_AUTH__ISSUER": AUTH.issuer,
        "ORDERS_AUTH__AUDIENCE": AUTH.audience,
        "ORDERS_TEMPORAL__CODEC__KEYS": f'{{"{KEY_ID}": "{KEY}"}}',
        "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": KEY_ID,
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "codec.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.codec"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


async def test_the_codec_process_decodes_for_operators_on_its_own_port(codec_process: str) -> None:
    """What the workers encrypted with the key decodes through the codec process for an
    operator; a customer gets 403 and no token 401 (not dev: no loopback exception)."""
    codec = EncryptionCodec.from_settings(
        Settings(
            temporal={"codec": {"keys": {KEY_ID: KEY}, "active_key_id": KEY_ID}}
        ).temporal.codec
    )
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"token":"tok_codecProc"}')
    [sealed] = await codec.encode([plain])
    body = json_format.MessageToDict(Payloads(payloads=[sealed]))
    operator = {"Authorization": f"Bearer {mint_token(AUTH, 'ops', 'operator')}"}
    customer = {"Authorization": f"Bearer {mint_token(AUTH, 'alice', 'customer')}"}
    async with httpx.AsyncClient(base_url=codec_process, timeout=10) as http:
        decoded = await http.post("/codec/decode", json=body, headers=operator)
        refused = await http.post("/codec/decode", json=body, headers=customer)
        anonymous = await http.post("/codec/decode", json=body)
    assert decoded.status_code == 200, decoded.text
    [payload] = decoded.json()["payloads"]
    assert base64.b64decode(payload["data"]) == b'{"token":"tok_codecProc"}'
    assert refused.status_code == 403
    assert anonymous.status_code == 401


async def test_the_public_api_does_not_serve_the_codec_when_told_not_to() -> None:
    """ORDERS_API__SERVE_CODEC=false: /codec/decode is not a route of the public API."""
    served = create_app(Settings(api={"serve_codec": True}))
    hidden = create_app(Settings(api={"serve_codec": False}))
    body: dict[str, list[object]] = {"payloads": []}
    for app, expected in ((served, 401), (hidden, 404)):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            answer = await http.post("/codec/decode", json=body)
        assert answer.status_code == expected, answer.text
