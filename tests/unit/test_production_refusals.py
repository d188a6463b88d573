"""Production refuses what cannot be production, each refusal naming its setting; the demo
allowance lets through exactly the demo parts it lists, and every process says so."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.demo_allowance import DEMO_ALLOWANCE, allowance_notice
from config.settings import Settings
from telemetry.setup import announce_demo_allowance
from tests.unit.production_env import DEMO, VALID, settings_from

ROOT = Path(__file__).resolve().parents[2]

# One item changed in an otherwise valid production configuration -> the setting named.
NEVER_ALLOWED = {
    "empty environment": ({"ORDERS_ENVIRONMENT": ""}, "ORDERS_ENVIRONMENT"),
    "SQLite": ({"ORDERS_DATABASE__URL": "sqlite:///orders.db"}, "ORDERS_DATABASE__URL"),
    "remote Temporal in clear": ({"ORDERS_TEMPORAL__TLS": "false"}, "ORDERS_TEMPORAL__ADDRESS"),
    "namespace default": ({"ORDERS_TEMPORAL__NAMESPACE": "default"}, "ORDERS_TEMPORAL__NAMESPACE"),
    "no Kafka": ({"ORDERS_KAFKA__BOOTSTRAP_SERVERS": ""}, "ORDERS_KAFKA__BOOTSTRAP_SERVERS"),
    "dev codec key": (
        {"ORDERS_TEMPORAL__CODEC__KEYS": '{"k1": "ZGV2LW9ubHktY29kZWMta2V5LW5vdC1hLXNlY3JldCE="}'},
        "ORDERS_TEMPORAL__CODEC__KEYS",
    ),
}
DEMO_PARTS = {
    "one Kafka replica": (
        {"ORDERS_KAFKA__REPLICATION_FACTOR": "1"},
        "ORDERS_KAFKA__REPLICATION_FACTOR",
    ),
    "log-only notices": ({"ORDERS_NOTIFICATIONS__CHANNEL": "log"}, "ORDERS_NOTIFICATIONS__CHANNEL"),
    "simulated provider": (
        {
            "ORDERS_PAYMENTS__PROVIDER": "simulated",
            "ORDERS_PAYMENTS__PROVIDER_URL": "http://payment-provider:8100",
            "ORDERS_PAYMENTS__PROVIDER_TOKEN": "a-token-of-the-deployment",
        },
        "ORDERS_PAYMENTS__PROVIDER",
    ),
}
REFUSALS = {**NEVER_ALLOWED, **DEMO_PARTS}


def _problems(error: ValidationError) -> list[str]:
    return [part for e in error.errors() for part in str(e["msg"]).split("; ")]


def test_a_valid_production_configuration_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test of the tests below: the configuration each one breaks is accepted whole,
    so a refusal there is that one item's, not a check refusing everything."""
    settings = settings_from(monkeypatch, VALID)
    assert settings.environment == "production"
    assert not settings.demo_allowance


@pytest.mark.parametrize("item", REFUSALS)
def test_production_refuses_the_item_naming_its_setting(
    monkeypatch: pytest.MonkeyPatch, item: str
) -> None:
    changes, setting = REFUSALS[item]
    with pytest.raises(ValidationError) as refused:
        settings_from(monkeypatch, {**VALID, **changes})
    problems = _problems(refused.value)
    assert len(problems) == 1, problems
    assert setting in problems[0]


@pytest.mark.parametrize("item", DEMO_PARTS)
def test_the_allowance_lets_each_demo_part_through(
    monkeypatch: pytest.MonkeyPatch, item: str
) -> None:
    changes, _ = DEMO_PARTS[item]
    settings = settings_from(monkeypatch, {**VALID, **changes, "ORDERS_DEMO_ALLOWANCE": "true"})
    assert settings.demo_allowance


def test_a_demo_deployment_with_all_three_parts_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(monkeypatch, DEMO)
    assert settings.payments.provider == "simulated"
    assert settings.notifications.channel == "log"
    assert settings.kafka.replication_factor == 1


@pytest.mark.parametrize("item", NEVER_ALLOWED)
def test_the_allowance_lets_nothing_else_through(
    monkeypatch: pytest.MonkeyPatch, item: str
) -> None:
    changes, setting = NEVER_ALLOWED[item]
    with pytest.raises(ValidationError, match=setting):
        settings_from(monkeypatch, {**DEMO, **changes})


def test_the_simulated_provider_needs_its_token_even_with_the_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its refunds and outage switch move money: reaching the service must not suffice."""
    demo = {k: v for k, v in DEMO.items() if k != "ORDERS_PAYMENTS__PROVIDER_TOKEN"}
    with pytest.raises(ValidationError, match="ORDERS_PAYMENTS__PROVIDER_TOKEN"):
        settings_from(monkeypatch, demo)


@pytest.mark.parametrize(
    "changes",
    [
        {"ORDERS_TEMPORAL__ADDRESS": "127.0.0.1:7233", "ORDERS_TEMPORAL__TLS": "false"},
        {"ORDERS_TEMPORAL__ADDRESS": "localhost:7233,[::1]:7234", "ORDERS_TEMPORAL__TLS": "false"},
        {"ORDERS_TEMPORAL__TLS": "false", "ORDERS_TEMPORAL__API_KEY": "cloud-key"},
    ],
    ids=["loopback", "loopback list", "API key"],
)
def test_temporal_in_clear_is_accepted_only_on_loopback(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str]
) -> None:
    """A frontend on this machine needs no TLS; an API key turns TLS on by itself."""
    settings_from(monkeypatch, {**VALID, **changes})


def test_one_remote_frontend_among_loopback_ones_needs_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changes = {"ORDERS_TEMPORAL__ADDRESS": "127.0.0.1:7233,temporal-2:7233"}
    with pytest.raises(ValidationError, match="temporal-2:7233"):
        settings_from(monkeypatch, {**VALID, **changes, "ORDERS_TEMPORAL__TLS": "false"})


def test_outside_production_the_demo_parts_need_no_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Dev keeps its zero-setup defaults: SQLite, no Kafka, the simulation, log notices."""
    settings = settings_from(monkeypatch, {})
    assert (settings.environment, settings.demo_allowance) == ("dev", False)


def test_the_allowance_permits_exactly_three_settings() -> None:
    """Pinned: widening the allowance is a decision, not a side effect."""
    assert {part.setting.split("=")[0].split("<")[0] for part in DEMO_ALLOWANCE} == {
        "ORDERS_PAYMENTS__PROVIDER",
        "ORDERS_NOTIFICATIONS__CHANNEL",
        "ORDERS_KAFKA__REPLICATION_FACTOR",
    }


def test_the_start_up_warning_names_exactly_what_the_allowance_permits(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_from(monkeypatch, DEMO)
    with caplog.at_level(logging.WARNING):
        announce_demo_allowance(settings)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    named = set(re.findall(r"ORDERS_[A-Z_]+", record.getMessage()))
    allowed = {re.findall(r"ORDERS_[A-Z_]+", part.setting)[0] for part in DEMO_ALLOWANCE}
    assert named == allowed | {"ORDERS_DEMO_ALLOWANCE"}


def test_no_warning_without_the_allowance(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_from(monkeypatch, VALID)
    with caplog.at_level(logging.WARNING):
        announce_demo_allowance(settings)
    assert caplog.records == []


PRODUCT = ("api", "workers", "outbox", "provider", "consumers", "tools")


def test_every_process_that_configures_telemetry_announces_the_allowance() -> None:
    """Every entry point (and the bootstrap, which only logs) calls the announcement, so
    no process runs with the allowance on without saying so."""
    silent = []
    for folder in PRODUCT:
        for path in (ROOT / folder).rglob("*.py"):
            source = path.read_text()
            starts = "configure_telemetry(" in source or path.name == "bootstrap.py"
            if starts and "announce_demo_allowance(settings)" not in source:
                silent.append(str(path.relative_to(ROOT)))
    assert silent == []


def test_the_production_page_lists_every_demo_part() -> None:
    page = (ROOT / "docs" / "production.md").read_text()
    for part in DEMO_ALLOWANCE:
        variable = re.findall(r"ORDERS_[A-Z_]+", part.setting)[0]
        assert f"`{variable}`" in page
    assert "`ORDERS_DEMO_ALLOWANCE=true`" in page


def test_an_empty_environment_is_refused_naming_the_variable() -> None:
    """The image sets ORDERS_ENVIRONMENT empty: a container must say what it is."""
    with pytest.raises(ValidationError, match="ORDERS_ENVIRONMENT"):
        Settings(environment="", _env_file=None)


def test_the_notice_is_the_one_line_everyone_prints() -> None:
    assert "\n" not in allowance_notice()
