"""Every process the chart renders starts: its environment (the chart's literal values, the
keys of the Secrets it references stubbed with plausible values, the Temporal certificate's
files where the chart mounts them) loads into ``Settings`` in production without a refusal,
and the API accepts an RS256 token from its issuer (only the JWKS URL is pointed at a local
issuer, devstack/jwks_issuer.py, a real HTTP server standing in for the identity provider).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from pydantic import BaseModel, ValidationError

from api.app import create_app
from api.auth import TokenVerifier
from api.problems import ProblemError
from clients.codec import new_key
from config.settings import Settings
from devstack.jwks_issuer import JwksIssuer, load_or_create_key, public_jwk
from tests.deploy import policy, tools

pytestmark = pytest.mark.integration

SHAPES = sorted(tools.VALUES_FILES)
TLS_DIR = "/etc/order-saga/temporal-tls"
# What an operator puts into the Secrets the chart references (docs/kubernetes.md).
SECRET_KEYS = {
    "ORDERS_DATABASE__URL": "postgresql://orders:s3cret@postgresql.orders:5432/orders",
    "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": "2026-12",
}
STRIPE_KEYS = {
    "ORDERS_PAYMENTS__STRIPE_SECRET_KEY": "sk_live_0123456789abcdefghijklmn",
    "ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET": "whsec_0123456789abcdefghijklmn",
}
DEMO_KEYS = {"ORDERS_PAYMENTS__PROVIDER_TOKEN": "provider-token-0123456789abcdef"}


def secret_values(shape: str) -> dict[str, str]:
    keys = {**SECRET_KEYS, "ORDERS_TEMPORAL__CODEC__KEYS": json.dumps({"2026-12": new_key()})}
    return {**keys, **(DEMO_KEYS if shape == "demo" else STRIPE_KEYS)}


def pod_environment(shape: str, module: str, certs: Path) -> dict[str, str]:
    """What a process of the shape sees: envFrom the Secret, then its own env (which wins),
    the values the chart takes from Secrets by key stubbed, the mount's files in ``certs``."""
    docs = tools.render(tools.VALUES_FILES[shape])
    (container,) = [c for _, _, c in policy.containers(docs) if policy.module_of(c) == module]
    env = secret_values(shape)
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"].replace(TLS_DIR, str(certs))
        else:
            env[item["name"]] = "stub-" + item["valueFrom"]["secretKeyRef"]["key"] * 4
    return env


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kubernetes.io/tls Secret's files (contents are read when connecting, not here)."""
    folder = tmp_path_factory.mktemp("temporal-tls")
    for name in ("tls.crt", "tls.key", "ca.crt"):
        (folder / name).write_text("-----BEGIN PLACEHOLDER-----\n")
    return folder


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


PROCESSES = ["api", "api.codec", "outbox", "tools.bootstrap", "workers.orders", "workers.payments"]
CASES = [(shape, module) for shape in SHAPES for module in PROCESSES] + [("demo", "provider")]


@pytest.mark.parametrize(("shape", "module"), CASES)
def test_each_rendered_process_loads_its_settings_in_production(
    monkeypatch: pytest.MonkeyPatch, certs: Path, shape: str, module: str
) -> None:
    settings = settings_from(monkeypatch, pod_environment(shape, module, certs))
    assert settings.environment == "production"
    assert settings.temporal.tls_enabled
    assert settings.kafka.bootstrap_servers
    if shape == "temporal-cloud":
        assert settings.temporal.api_key.get_secret_value()
    else:
        assert Path(settings.temporal.tls_client_cert_path).parent == certs
        assert settings.temporal.tls_server_name == "temporal-frontend"
    assert settings.payments.provider == ("simulated" if shape == "demo" else "stripe")
    assert settings.temporal.codec.cors_origins == ["https://temporal-ui.example.com"]
    assert settings.workers.graceful_shutdown_seconds == 30


async def test_the_rendered_api_accepts_an_rs256_token_of_its_issuer_only(
    monkeypatch: pytest.MonkeyPatch, certs: Path, issuer: JwksIssuer
) -> None:
    env = pod_environment("selfhosted-mtls", "api", certs)
    assert env["ORDERS_AUTH__JWKS_URL"].endswith("/.well-known/jwks.json")
    settings = settings_from(monkeypatch, {**env, "ORDERS_AUTH__JWKS_URL": issuer.jwks_url})
    assert settings.auth.usable_algorithms == ["RS256", "ES256"]
    principal = await TokenVerifier(settings.auth).verify(rs256_token(issuer, settings))
    assert (principal.subject, principal.email) == ("alice", "alice@example.com")
    # The process would start: the app builds from these settings (connections are made
    # in its lifespan).
    assert create_app(settings).title
    stranger = settings.model_copy(
        update={"auth": settings.auth.model_copy(update={"issuer": "https://evil.example"})}
    )
    with pytest.raises(ProblemError) as refused:
        await TokenVerifier(settings.auth).verify(rs256_token(issuer, stranger))
    assert refused.value.status == 401


def rs256_token(issuer: JwksIssuer, settings: Settings, subject: str = "alice") -> str:
    key = load_or_create_key(issuer.key_path)
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": ["customer"],
        "email": f"{subject}@example.com",
        "iss": settings.auth.issuer,
        "aud": settings.auth.audience,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": public_jwk(key)["kid"]})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ORDERS_AUTH__ALGORITHMS": '["HS256"]'}, "ORDERS_AUTH__ALGORITHMS"),
        ({"ORDERS_AUTH__ISSUER": None}, "ORDERS_AUTH__ISSUER"),
        ({"ORDERS_AUTH__AUDIENCE": None}, "ORDERS_AUTH__AUDIENCE"),
        ({"ORDERS_TEMPORAL__CODEC__KEYS": None}, "ORDERS_TEMPORAL__CODEC__KEYS"),
        ({"ORDERS_PAYMENTS__STRIPE_WEBHOOK_SECRET": None}, "STRIPE_WEBHOOK_SECRET"),
    ],
    ids=["hmac-with-jwks", "no-issuer", "no-audience", "no-codec-key", "no-webhook-secret"],
)
def test_the_rendered_configuration_with_a_part_missing_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, certs: Path, change: dict[str, str | None], named: str
) -> None:
    """The checks the rendered environment passes are live: take one part away (or set a
    wrong one) and start-up stops with the setting's name."""
    env = pod_environment("selfhosted-mtls", "api", certs)
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
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
        ["--sub", "bob", "--role", "operator", "--issuer-key", str(issuer.key_path)],
        issuer.settings_env(),
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    settings = settings_from(monkeypatch, issuer.settings_env())
    principal = await TokenVerifier(settings.auth).verify(token)
    assert (principal.subject, principal.is_operator) == ("bob", True)
    assert principal.email == "bob@example.com"


async def test_the_token_tool_keeps_hs256_in_plain_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, {})
    token = token_tool(["--sub", "carol", "--email", "c@example.org"], {})
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    principal = await TokenVerifier(settings.auth).verify(token)
    assert (principal.subject, principal.email) == ("carol", "c@example.org")


def settings_variables(model: type[BaseModel] = Settings, prefix: str = "ORDERS_") -> set[str]:
    """Every variable Settings reads (nested sections joined by ``__``)."""
    names = set()
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= settings_variables(annotation, f"{variable}__")
        else:
            names.add(variable)
    return names


@pytest.mark.parametrize("shape", SHAPES)
def test_every_variable_the_chart_sets_is_a_setting(shape: str) -> None:
    """Settings ignores unknown ORDERS_ variables, so a misspelt name in the chart would be a
    setting silently left at its default: each one must name a field."""
    known = settings_variables()
    docs = tools.render(tools.VALUES_FILES[shape])
    for where, _, container in policy.containers(docs):
        names = {item["name"] for item in container["env"]}
        unknown = {n for n in names if n.startswith("ORDERS_")} - known
        assert unknown == set(), where
