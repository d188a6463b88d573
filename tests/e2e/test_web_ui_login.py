"""Operators sign in to the Web UI at Keycloak and read a parked order decoded; others don't.

The Web UI server runs as ``make dev ARGS=--production`` configures it (devstack/temporal_ui.py:
OIDC against Keycloak, the codec endpoint with the signed-in user's access token), in front of
the test session's Temporal; the API trusts the session's Keycloak. Headless Chromium signs
in through Keycloak's real page (tools/screenshots/pictures.py, the flow the runbook's
pictures come from): the operator olga sees the parked order's input decoded (the customer's
e-mail), sam of support sees the same page without it, and olga's retry from the UI's
signal dialog -- its input encoded through the codec with her token -- moves the order on.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from config.settings import SagaSettings, TemporalSettings
from devstack.certificates import loopback_certificate
from devstack.keycloak import Keycloak
from devstack.keycloak_realm import UI_CLIENT, client_secret, demo_users
from devstack.temporal_ui import TemporalWebUI, UILogin
from tests.e2e.harness import running_api, serve_http
from tests.e2e.keycloak_tokens import KeycloakTokens, keycloak_auth
from tools.screenshots.browser import Person
from tools.screenshots.pictures import WebUIStage, take_pictures

# A charge that fails for 2 s parks the order (NEEDS_ATTENTION) for an operator.
SHORT = SagaSettings(charge_budget_seconds=2)
USERS = {user.username: user for user in demo_users()}


def person(username: str) -> Person:
    return Person(username, USERS[username].password)


async def test_an_operator_reads_the_parked_order_decoded_and_support_sees_ciphertext(
    *,
    pg_url: str,
    temporal_settings: TemporalSettings,
    temporal_client: Client,
    keycloak: Keycloak,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ui = TemporalWebUI(
        tmp_path / "temporal-ui",
        temporal_settings.address,
        namespace=temporal_settings.namespace,
        login=UILogin(keycloak.issuer, UI_CLIENT, client_secret(UI_CLIENT)),
    )
    # The browser calls the codec from the UI's page: the API lets that origin alone in.
    codec = temporal_settings.codec.model_copy(update={"cors_origins": [ui.url]})
    temporal = temporal_settings.model_copy(update={"codec": codec})
    caplog.set_level(logging.INFO, logger="api.codec_server")
    # The UI passes a user's token to an https:// codec endpoint only.
    codec_tls = loopback_certificate(tmp_path / "https")
    async with (
        running_api(
            pg_url,
            temporal,
            temporal_client,
            saga=SHORT,
            auth=keycloak_auth(keycloak.settings_env()),
            tokens=KeycloakTokens(keycloak),
        ) as api,
        serve_http(api, codec_tls) as base,
    ):
        ui.codec_endpoint = f"{base}/codec"
        await asyncio.to_thread(ui.start)
        try:
            async with httpx.AsyncClient(
                base_url=base, headers=api.auth("alice"), verify=str(codec_tls.cert)
            ) as alice:
                stage = WebUIStage(
                    ui.url,
                    temporal.namespace,
                    alice,
                    api.gateway.outage,
                    person("olga"),
                    person("sam"),
                    USERS["alice"].email,
                    codec_tls.spki_sha256,
                )
                seen = await take_pictures(stage, tmp_path)
        finally:
            await asyncio.to_thread(ui.stop)

    email = USERS["alice"].email
    assert seen.order_id[:8] in seen.details_as_operator
    assert email in seen.details_as_operator
    # The same page rendered for support, with the input left encrypted.
    assert seen.order_id[:8] in seen.details_as_support
    assert email not in seen.details_as_support
    assert "CONFIRMED" in seen.after_retry
    # Every decode names who asked: the operator's verified subject, never support's.
    decoders = {getattr(record, "subject", None) for record in caplog.records}
    assert USERS["olga"].subject in decoders
    assert USERS["sam"].subject not in decoders
    for picture in ("needs-attention-details", "needs-attention-support", "retried-confirmed"):
        assert (tmp_path / f"{picture}.png").stat().st_size > 10_000
