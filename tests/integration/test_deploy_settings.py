"""The shipped deployment configurations start, and accept a token from their issuer.

The environment of deploy/k8s (ConfigMap + the Secret's keys) is loaded into ``Settings``
as a pod would; only the JWKS URL is pointed at a local issuer (devstack/jwks_issuer.py, a
real HTTP server) standing in for the identity provider. An RS256 token carrying the
configured issuer and audience must be accepted and the API must build. (The compose
file's environment: tests/deploy/test_compose.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import yaml
from pydantic import ValidationError

from api.app import create_app
from api.auth import TokenVerifier
from api.problems import ProblemError
from clients.codec import new_key
from config.settings import Settings
from devstack.jwks_issuer import JwksIssuer, load_or_create_key, public_jwk
from gateways.factory import build_payment_gateway
from gateways.http_payment import HttpPaymentGateway
from gateways.payment_gateway import CircuitBreakerGateway

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def k8s_environment() -> dict[str, str]:
    """What ``envFrom`` (the ConfigMap and the Secret) gives every pod."""
    env: dict[str, str] = {}
    for document in yaml.safe_load_all((ROOT / "deploy/k8s/configmap.yaml").read_text()):
        if document["kind"] == "ConfigMap":
            env.update(document["data"])
        elif document["kind"] == "Secret":
            env.update(document["stringData"])
    return env


def operator_filled(env: dict[str, str]) -> dict[str, str]:
    """The shipped environment with what an operator must put in: a codec key of their own
    (the shipped one is an example, refused in production)."""
    return {
        **env,
        "ORDERS_TEMPORAL__CODEC__KEYS": json.dumps({"own-1": new_key()}),
        "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": "own-1",
    }


DEPLOYMENTS = {
    "k8s": lambda: operator_filled(k8s_environment()),
}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwksIssuer]:
    local = JwksIssuer(tmp_path_factory.mktemp("issuer")).start()
    yield local
    local.stop()


def settings_from(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name in list(os.environ):
        if name.startswith("ORDERS_") or name in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def rs256_token(issuer: JwksIssuer, settings: Settings, subject: str = "alice") -> str:
    key = load_or_create_key(issuer.key_path)
    claims = {
        "sub": subject,
        "roles": ["customer"],
        "email": f"{subject}@example.com",
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": public_jwk(key)["kid"]})


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
async def test_the_shipped_configuration_starts_and_accepts_an_rs256_token(
    monkeypatch: pytest.MonkeyPatch, issuer: JwksIssuer, deployment: str
) -> None:
    env = DEPLOYMENTS[deployment]()
    assert env["ORDERS_ENVIRONMENT"] == "production"
    assert env["ORDERS_AUTH__JWKS_URL"].endswith("/.well-known/jwks.json")
    settings = settings_from(monkeypatch, {**env, "ORDERS_AUTH__JWKS_URL": issuer.jwks_url})

    assert settings.auth.usable_algorithms == ["RS256", "ES256"]
    principal = await TokenVerifier(settings.auth).verify(rs256_token(issuer, settings))
    assert principal.subject == "alice"
    assert principal.email == "alice@example.com"
    # The process would start: the app builds from these settings (connections are made
    # in its lifespan), and the workers' gateway is the shared provider over HTTP.
    assert create_app(settings).title
    gateway = build_payment_gateway(settings.payments)
    assert isinstance(gateway, CircuitBreakerGateway)
    assert isinstance(gateway._inner, HttpPaymentGateway)


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
async def test_the_shipped_configuration_refuses_a_token_of_another_issuer(
    monkeypatch: pytest.MonkeyPatch, issuer: JwksIssuer, deployment: str
) -> None:
    env = {**DEPLOYMENTS[deployment](), "ORDERS_AUTH__JWKS_URL": issuer.jwks_url}
    settings = settings_from(monkeypatch, env)
    stranger = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"issuer": "https://evil.example"})}
    )
    with pytest.raises(ProblemError) as refused:
        await TokenVerifier(settings.auth).verify(rs256_token(issuer, stranger))
    assert refused.value.status == 401


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ORDERS_AUTH__ALGORITHMS": '["HS256"]'}, "ORDERS_AUTH__ALGORITHMS"),
        ({"ORDERS_AUTH__ISSUER": None}, "ORDERS_AUTH__ISSUER"),
        ({"ORDERS_AUTH__AUDIENCE": None}, "ORDERS_AUTH__AUDIENCE"),
        ({"ORDERS_PAYMENTS__PROVIDER_URL": None}, "ORDERS_PAYMENTS__PROVIDER_URL"),
    ],
    ids=["hmac-with-jwks", "no-issuer", "no-audience", "no-provider"],
)
def test_the_k8s_configuration_as_it_was_would_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, str | None], named: str
) -> None:
    """Each fault the old manifests had stops start-up with the setting's name."""
    env = {**DEPLOYMENTS["k8s"](), **{k: v for k, v in change.items() if v is not None}}
    env = {k: v for k, v in env.items() if not (k in change and change[k] is None)}
    with pytest.raises(ValidationError, match=named):
        settings_from(monkeypatch, env)


def token_tool(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tools.token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, **env},
    )
    return done.stdout.strip()


async def test_the_token_tool_mints_rs256_for_the_local_issuer(
    monkeypatch: pytest.MonkeyPatch, issuer: JwksIssuer
) -> None:
    """`python -m tools.token --issuer-key` signs with the local issuer's key, with its
    issuer and audience, and an e-mail claim by default; the API configured for that
    issuer (as `make dev ARGS=--production` configures it) accepts it."""
    token = token_tool(
        ["--sub", "bob", "--role", "admin", "--issuer-key", str(issuer.key_path)],
        issuer.settings_env(),
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    settings = settings_from(monkeypatch, issuer.settings_env())
    principal = await TokenVerifier(settings.auth).verify(token)
    assert (principal.subject, principal.is_admin) == ("bob", True)
    assert principal.email == "bob@example.com"


async def test_the_token_tool_keeps_hs256_in_plain_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, {})
    token = token_tool(["--sub", "carol", "--email", "c@example.org"], {})
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    principal = await TokenVerifier(settings.auth).verify(token)
    assert (principal.subject, principal.email) == ("carol", "c@example.org")


def test_the_shipped_example_codec_key_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example key in the files is public: production does not start until it is
    replaced, and says which setting to fill."""
    shipped = k8s_environment()
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__CODEC__KEYS"):
        settings_from(monkeypatch, shipped)
