"""docker-compose.temporal.yml can start: valid for docker-compose, the same server
versions as the tests, every process of the design, secrets generated at first start
(never an example key), and an environment production accepts."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import config.dev_defaults
from config.settings import Settings
from devstack import go_servers
from devstack.postgres_binaries import find_pg_bin
from devstack.process import ServiceUnavailableError
from messages import queues
from tests.fixtures.services import service_unavailable
from tools.compose_secrets import ensure_secrets

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.temporal.yml"
KAFKA_POM = ROOT / "devstack" / "maven" / "kafka" / "pom.xml"
SECRETS_DIR = "/run/order-saga/secrets"

WORKERS = {f"worker-{name}" for name in queues.ALL}
# The app processes (the project's image, production mode), each with its command.
APP_COMMANDS = {
    "api": ["python", "-m", "api"],
    "codec": ["python", "-m", "api.codec"],
    "outbox-relay": ["python", "-m", "outbox"],
    "bootstrap": ["python", "-m", "tools.bootstrap", "--demo-catalog"],
    **{f"worker-{name}": ["python", "-m", f"workers.{name}"] for name in queues.ALL},
}
# Every process the design names, plus Temporal's own, the peers they need and the
# one-shot services that prepare them.
REQUIRED_SERVICES = {
    *APP_COMMANDS,
    "payment-provider",
    "temporal",
    "temporal-schema",
    "temporal-ui",
    "postgresql",
    "kafka",
    "secrets",
}
# Variables that hold a secret: they reach the processes from the secrets volume only.
SECRET_VARIABLES = {
    "ORDERS_DATABASE__URL",
    "ORDERS_TEMPORAL__CODEC__KEYS",
    "ORDERS_AUTH__JWT_SECRET",
    "ORDERS_PAYMENTS__PROVIDER_TOKEN",
    "ORDERS_TEMPORAL__API_KEY",
    "POSTGRES_PASSWORD",
    "POSTGRES_PWD",
    "SQL_PASSWORD",
}


def compose_config(path: Path = COMPOSE) -> dict[str, Any]:
    """``docker-compose config`` of ``path`` (relative paths resolved from the repository)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        service_unavailable("docker-compose not installed (apt-get install docker-compose)")
    done = subprocess.run(
        [binary, "--project-directory", str(ROOT), "-f", str(path), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


@cache
def services() -> dict[str, Any]:
    found: dict[str, Any] = compose_config()["services"]
    return found


def _go_version(name: str) -> str:
    return go_servers.SERVERS[name].version.removeprefix("v")


def _kafka_version() -> str:
    """The pom's ``kafka.version`` (the broker devstack/kafka.py runs)."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
    assert found, f"no kafka.version in {KAFKA_POM}"
    return found.group(1).strip()


def expected_images() -> dict[str, str]:
    """Image name → the tag the tests' own servers have."""
    server = _go_version("temporal-server")
    return {
        "temporalio/server": server,
        "temporalio/admin-tools": server,
        "temporalio/ui": _go_version("temporal-ui-server"),
        "apache/kafka": _kafka_version(),
    }


def version_problems(found: dict[str, Any]) -> list[str]:
    """What differs between the images of ``found`` (services) and the tests' versions."""
    tags: dict[str, list[str]] = {}
    for service in found.values():
        name, _, tag = str(service.get("image", "")).partition(":")
        tags.setdefault(name, []).append(tag)
    problems = []
    for image, version in expected_images().items():
        if tags.get(image, []) != [version] * max(1, len(tags.get(image, []))):
            problems.append(f"{image}: compose runs {tags.get(image)}, the tests {version}")
    return problems


def test_compose_runs_the_tests_server_ui_and_kafka_versions() -> None:
    assert version_problems(services()) == []


def test_the_version_check_catches_a_drifted_file(tmp_path: Path) -> None:
    """The check reads the file: the old tags it once carried are reported."""
    text = COMPOSE.read_text()
    mutated = text.replace("temporalio/server:1.32.2", "temporalio/server:1.27.0")
    mutated = mutated.replace("apache/kafka:4.3.1", "apache/kafka:3.9.1")
    assert mutated != text
    drifted = tmp_path / "docker-compose.temporal.yml"
    drifted.write_text(mutated)
    problems = version_problems(compose_config(drifted)["services"])
    assert len(problems) == 2, problems
    assert any(problem.startswith("temporalio/server:") for problem in problems)
    assert any(problem.startswith("apache/kafka:") for problem in problems)


def test_compose_postgresql_has_the_test_stack_major_version() -> None:
    try:
        pg_bin = find_pg_bin()
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    banner = subprocess.run(
        [str(pg_bin / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\) (\d+)", banner)
    assert match, banner
    assert services()["postgresql"]["image"] == f"postgres:{match.group(1)}"


def test_compose_runs_every_process_of_the_design() -> None:
    found = services()
    assert set(found) >= REQUIRED_SERVICES
    for name, command in APP_COMMANDS.items():
        assert found[name]["command"] == command, name
    assert found["payment-provider"]["command"][:3] == ["python", "-m", "provider"]


def test_temporal_persists_to_postgresql_with_its_schema_set_up_first() -> None:
    temporal = services()["temporal"]
    assert temporal["environment"]["DB"] == "postgres12"
    schema = temporal["depends_on"]["temporal-schema"]["condition"]
    assert schema == "service_completed_successfully"


def test_the_apps_start_after_the_bootstrap_and_the_bootstrap_after_its_peers() -> None:
    found = services()
    for name in {*APP_COMMANDS, "payment-provider"} - {"bootstrap"}:
        condition = found[name]["depends_on"]["bootstrap"]["condition"]
        assert condition == "service_completed_successfully", name
    needs = found["bootstrap"]["depends_on"]
    assert needs["temporal"]["condition"] == "service_healthy"
    assert needs["postgresql"]["condition"] == "service_healthy"
    assert found["postgresql"]["depends_on"]["secrets"]["condition"] == (
        "service_completed_successfully"
    )


def test_workers_are_probed_on_readyz_which_does_not_ask_temporal() -> None:
    for name in [*WORKERS, "outbox-relay"]:
        assert "/readyz" in " ".join(services()[name]["healthcheck"]["test"]), name


def test_the_codec_is_off_the_public_api_and_its_own_port_on_loopback_only() -> None:
    found = services()
    assert found["api"]["environment"]["ORDERS_API__SERVE_CODEC"] == "false"
    codec_port = int(found["codec"]["environment"]["ORDERS_API__CODEC_PORT"])
    published = [_port(entry) for entry in found["codec"]["ports"]]
    assert published, "the CLI reaches the codec through a published port"
    assert all(target == codec_port for _, target in published), published
    assert all(host_ip == "127.0.0.1" for host_ip, _ in published), published
    assert all(_port(entry)[1] != codec_port for entry in found["api"]["ports"])


def _port(entry: str | dict[str, Any]) -> tuple[str, int]:
    """(host address, container port) of a ports entry, short ("ip:host:target") or long."""
    if isinstance(entry, dict):
        return str(entry.get("host_ip", "")), int(entry["target"])
    parts = entry.split(":")
    return (parts[0] if len(parts) == 3 else ""), int(parts[-1].split("/")[0])


def test_no_example_or_dev_secret_is_in_the_file() -> None:
    """Every public value of config/dev_defaults.py (production refuses them) is absent,
    and no secret variable has a value here: they come from the generated volume."""
    text = COMPOSE.read_text()
    public = {
        value
        for name, value in vars(config.dev_defaults).items()
        if isinstance(value, str)
        and ("KEY" in name or "SECRET" in name or "ISSUER" in name)
        and name.isupper()
        # A key's id names it; it is no secret ("dev" is in many words).
        and not name.endswith("_ID")
    }
    assert public, "dev_defaults names no key: the check would check nothing"
    assert [value for value in public if value in text] == []
    for name, service in services().items():
        given = set(service.get("environment") or {})
        assert given & SECRET_VARIABLES == set(), name


@pytest.fixture
def generated_secrets(tmp_path: Path) -> Path:
    """The secrets the one-shot service generates, as it generates them."""
    found = services()
    command = found["secrets"]["command"]
    assert command[:3] == ["python", "-m", "tools.compose_secrets"]
    options = dict(part.removeprefix("--").split("=", 1) for part in command[3:])
    assert options["dir"] == SECRETS_DIR
    folder = tmp_path / "secrets"
    ensure_secrets(folder, issuer=options["issuer"], audience=options["audience"])
    return folder


def _app_environment(service: dict[str, Any], secrets: Path) -> dict[str, str]:
    """What the process sees: the service's environment, then what its entrypoint sources
    from the volume (parsed from env.sh), with the volume's paths moved to ``secrets``."""
    entrypoint = " ".join(service["entrypoint"])
    assert f". {SECRETS_DIR}/env.sh" in entrypoint
    mounts = {mount["target"] for mount in service["volumes"] if isinstance(mount, dict)}
    assert SECRETS_DIR in mounts
    sourced = {}
    for line in (secrets / "env.sh").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        (sourced[name],) = shlex.split(value)
    environment = {**service["environment"], **sourced}
    return {
        name: str(value).replace(SECRETS_DIR, str(secrets)) for name, value in environment.items()
    }


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the service's variables: none of this machine's, and no .env file."""
    for name in list(os.environ):
        if name.startswith("ORDERS_") or name in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("clean_environment")
def test_each_app_service_gets_a_production_configuration_that_starts(
    generated_secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the generated secrets, every app service's environment loads as production
    settings without a refusal, with the demo allowance and nothing from the dev defaults."""
    for name in [*APP_COMMANDS, "payment-provider"]:
        environment = _app_environment(services()[name], generated_secrets)
        assert environment["ORDERS_ENVIRONMENT"] == "production", name
        assert environment["ORDERS_DEMO_ALLOWANCE"] == "true", name
        with monkeypatch.context() as scoped:
            for variable, value in environment.items():
                scoped.setenv(variable, value)
            settings = Settings(_env_file=None)
        assert settings.environment == "production", name
        assert settings.temporal.tls_enabled, name
        assert settings.temporal.namespace != "default", name
        assert settings.database.is_postgres, name


@pytest.mark.usefixtures("clean_environment")
def test_without_the_generated_secrets_production_refuses_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The load above can fail: the file's environment alone (no env.sh) falls back to the
    dev codec key, which production refuses by name."""
    for variable, value in services()["api"]["environment"].items():
        monkeypatch.setenv(variable, str(value))
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__CODEC__KEYS"):
        Settings(_env_file=None)
