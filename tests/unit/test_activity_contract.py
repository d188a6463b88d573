"""Every activity the workflows call through the contract is served, once, by the worker of
its queue, under the contract's name and with the contract's input and result types."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from config.settings import DatabaseSettings, load_settings
from messages import queues
from messages.contract import (
    QUEUE_CONTRACTS,
    activity_name,
    contract_activities,
)
from messages.sdk_private import activity_definition
from persistence.database import create_engine, session_factory
from workers.bindings import queue_activities
from workers.runner import queue_implementations


def _types(method: object) -> tuple[list[type] | None, type | None]:
    definition = activity_definition(method)  # type: ignore[arg-type]
    assert definition is not None, f"{method!r} is not an activity"
    return definition.arg_types, definition.ret_type


@pytest.fixture
def registered(tmp_path: Path) -> dict[str, list[object]]:
    """The bound activities each activity queue's worker registers, as the runner builds them."""
    settings = load_settings()
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db'}"))
    sessions = session_factory(engine)
    return {
        name: list(queue_activities(name, queue_implementations(name, sessions, settings)))
        for name in QUEUE_CONTRACTS
    }


def test_every_contract_activity_has_one_implementation_on_its_queue(
    registered: dict[str, list[object]],
) -> None:
    """Each queue serves exactly its contracts' activities, each name once."""
    for queue, contracts in QUEUE_CONTRACTS.items():
        served = Counter(activity_name(method) for method in registered[queue])  # type: ignore[arg-type]
        declared = Counter(
            activity_name(method)
            for contract in contracts
            for method in contract_activities(contract).values()
        )
        assert served == declared, queue


def test_implementations_keep_the_contract_types(registered: dict[str, list[object]]) -> None:
    """Same input and result types as the definition the workflow calls."""
    declared = {
        activity_name(method): _types(method)
        for contracts in QUEUE_CONTRACTS.values()
        for contract in contracts
        for method in contract_activities(contract).values()
    }
    for methods in registered.values():
        for method in methods:
            assert _types(method) == declared[activity_name(method)]  # type: ignore[arg-type]


def test_no_activity_name_is_served_by_two_queues(registered: dict[str, list[object]]) -> None:
    names = [activity_name(m) for methods in registered.values() for m in methods]  # type: ignore[arg-type]
    assert len(names) == len(set(names))


def test_the_orders_queue_runs_workflows_only() -> None:
    assert queues.ORDERS not in QUEUE_CONTRACTS


def test_conclude_order_keeps_the_notice_types_of_the_step_it_renames() -> None:
    """Sagas already running schedule ``notify_customer``; both names take the same input."""
    notifications = contract_activities(QUEUE_CONTRACTS[queues.NOTIFICATIONS][0])
    assert activity_name(notifications["conclude_order"]) == "conclude_order"
    assert _types(notifications["conclude_order"]) == _types(notifications["notify_customer"])


def test_a_missing_implementation_is_refused_at_start_up(tmp_path: Path) -> None:
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'db'}"))
    implementations = queue_implementations(
        queues.INVENTORY, session_factory(engine), load_settings()
    )
    with pytest.raises(TypeError, match="exactly one implementation"):
        queue_activities(queues.INVENTORY, implementations[:1])
