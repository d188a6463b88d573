"""On Temporal Cloud the bootstrap creates nothing in Temporal and says what to create with
tcld; what it decides from what it could read."""

from __future__ import annotations

import shlex

import pytest

from config.settings import Settings, TemporalSettings
from messages.search_attributes import SEARCH_ATTRIBUTES
from tools.bootstrap import on_temporal_cloud
from tools.bootstrap_cloud import CloudFindings, cloud_plan

NAMESPACE = "orders.a1b2c"


def _flags(plan_command: str) -> dict[str, str]:
    words = shlex.split(plan_command)
    values = [words[i + 1] for i, word in enumerate(words) if word == "--search-attribute"]
    return dict(value.split("=") for value in values)


def test_an_api_key_means_temporal_cloud() -> None:
    cloud = Settings(temporal=TemporalSettings(api_key="key"))
    assert on_temporal_cloud(cloud)
    assert not on_temporal_cloud(Settings(temporal=TemporalSettings(tls=True)))


def test_a_missing_namespace_is_created_with_tcld_with_every_attribute() -> None:
    findings = CloudFindings(NAMESPACE, namespace_exists=False, attributes=None)
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, retention_days=7)
    assert plan.missing
    [command] = plan.commands
    assert command.startswith("tcld namespace create --namespace orders ")
    assert "--retention-days 7" in command
    assert "--auth-method api_key" in command
    assert _flags(command) == dict(SEARCH_ATTRIBUTES)


def test_missing_attributes_are_added_with_tcld_and_only_those() -> None:
    present = dict(list(SEARCH_ATTRIBUTES.items())[:1])
    findings = CloudFindings(NAMESPACE, namespace_exists=True, attributes=present)
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, retention_days=7)
    assert plan.missing
    [command] = plan.commands
    assert command.startswith(f"tcld namespace search-attributes add --namespace {NAMESPACE} ")
    assert _flags(command) == {n: k for n, k in SEARCH_ATTRIBUTES.items() if n not in present}


def test_a_namespace_with_everything_needs_nothing() -> None:
    findings = CloudFindings(NAMESPACE, namespace_exists=True, attributes=dict(SEARCH_ATTRIBUTES))
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, retention_days=7)
    assert (plan.missing, plan.commands) == (False, [])
    assert f"namespace {NAMESPACE}: exists" in plan.found


def test_attributes_it_may_not_list_are_named_in_a_command_but_do_not_fail() -> None:
    """A key without the right to list: the bootstrap cannot tell, so it says what to run
    once and goes on to the migrations."""
    findings = CloudFindings(
        NAMESPACE, namespace_exists=True, attributes=None, why_unknown=["search attributes: …"]
    )
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, retention_days=7)
    assert not plan.missing
    [command] = plan.commands
    assert _flags(command) == dict(SEARCH_ATTRIBUTES)


@pytest.mark.parametrize("kind", ["Text", "Int"])
def test_an_attribute_of_another_type_fails(kind: str) -> None:
    name = next(iter(SEARCH_ATTRIBUTES))
    registered = {**SEARCH_ATTRIBUTES, name: kind}
    findings = CloudFindings(NAMESPACE, namespace_exists=True, attributes=registered)
    plan = cloud_plan(findings, SEARCH_ATTRIBUTES, retention_days=7)
    assert plan.missing
    assert any(f"registered as {kind}" in line for line in plan.found)
