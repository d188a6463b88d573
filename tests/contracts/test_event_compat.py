"""The event schemas keep the published contract (schemas/events/published/): a change that
would break a consumer fails unless the event's schema_version is bumped and the old version
stays published. The rule's tests run on copies, never on the committed files."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from models.events import OrderCreated, PaymentFailed
from outbox.schema_compat import breaking_changes, contract_violations
from outbox.schemas import SCHEMA_DIR, event_schema
from tools.publish_contracts import PUBLISHED_EVENTS, current_event_schemas

CREATED = event_schema(OrderCreated)


def test_current_schemas_keep_the_published_contract() -> None:
    """Every published version is still readable: same version compatible, older ones kept."""
    assert PUBLISHED_EVENTS.is_dir()
    assert any(PUBLISHED_EVENTS.glob("*.json"))
    problems = contract_violations(PUBLISHED_EVENTS, SCHEMA_DIR, current_event_schemas())
    assert not problems, (
        "the event schemas break the published contract; bump the event's schema_version "
        "(and keep the old file) instead:\n" + "\n".join(problems)
    )


def test_every_current_version_is_published_or_new() -> None:
    """A current version missing from the snapshot is a new type or a bump awaiting release."""
    published = {path.name for path in PUBLISHED_EVENTS.glob("*.json")}
    kept = {path.name for path in SCHEMA_DIR.glob("*.json")}
    assert published <= kept, f"published but no longer in {SCHEMA_DIR}: {published - kept}"


def _changed(change: Any) -> dict[str, Any]:
    schema = copy.deepcopy(CREATED)
    change(schema)
    return schema


def _remove(name: str) -> Any:
    def change(schema: dict[str, Any]) -> None:
        del schema["properties"][name]
        schema["required"].remove(name)

    return change


def _rename(old: str, new: str) -> Any:
    def change(schema: dict[str, Any]) -> None:
        schema["properties"][new] = schema["properties"].pop(old)
        schema["required"] = [new if r == old else r for r in schema["required"]]

    return change


def _set(path: list[str], value: Any) -> Any:
    def change(schema: dict[str, Any]) -> None:
        node = schema
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _add_field(name: str, *, required: bool) -> Any:
    def change(schema: dict[str, Any]) -> None:
        schema["properties"][name] = {"type": "string"}
        if required:
            schema["required"].append(name)

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_remove("currency"), "$.currency: removed"),
        (_rename("customer_id", "customer"), "$.customer_id: removed"),
        (_set(["properties", "total_amount", "type"], "number"), "$.total_amount: type changed"),
        (
            _set(["$defs", "EventItem", "properties", "quantity", "type"], "string"),
            "$.items[].quantity: type changed",
        ),
        (_add_field("channel", required=True), "$.channel: newly required"),
        (_set(["properties", "schema_version", "const"], 2), "$.schema_version: enumeration lost"),
        (
            _set(["properties", "currency", "anyOf"], [{"type": "string"}, {"type": "null"}]),
            "$.currency: type changed",
        ),
    ],
)
def test_a_breaking_change_is_reported(change: Any, expected: str) -> None:
    """Removed or renamed field, changed type (nested too), newly required, lost value."""
    problems = breaking_changes(CREATED, _changed(change))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_a_narrowed_enum_is_reported() -> None:
    old = {"type": "object", "properties": {"status": {"enum": ["AUTHORIZED", "CAPTURED"]}}}
    new = {"type": "object", "properties": {"status": {"enum": ["CAPTURED"]}}}
    assert breaking_changes(old, new) == ['$.status: enumeration lost "AUTHORIZED"']
    assert breaking_changes(new, old) == []  # a widened enum is additive


def test_an_additive_optional_field_is_compatible() -> None:
    """New optional fields (nullable or not) are what a version may grow by."""
    assert breaking_changes(CREATED, _changed(_add_field("coupon", required=False))) == []
    assert breaking_changes(CREATED, CREATED) == []


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the committed schema files and of the published snapshot."""
    schema_dir, published = tmp_path / "events", tmp_path / "events" / "published"
    shutil.copytree(SCHEMA_DIR, schema_dir)
    return schema_dir, published


def _current_with(name: str, version: int, schema: dict[str, Any]) -> dict[str, Any]:
    return {**current_event_schemas(), name: (version, schema)}


def test_a_breaking_change_without_a_version_bump_fails_the_check(tmp_path: Path) -> None:
    """PaymentFailed.reason removed while still v1: the published v1 is broken."""
    schema_dir, published = _workspace(tmp_path)
    broken = copy.deepcopy(event_schema(PaymentFailed))
    _remove("reason")(broken)
    problems = contract_violations(published, schema_dir, _current_with("PaymentFailed", 1, broken))
    assert problems == ["PaymentFailed.v1.json: $.reason: removed (or renamed)"]


def test_a_bump_that_keeps_the_old_version_published_passes(tmp_path: Path) -> None:
    """The same break as v2, with PaymentFailed.v1.json still in schemas/events: allowed."""
    schema_dir, published = _workspace(tmp_path)
    v2 = copy.deepcopy(event_schema(PaymentFailed))
    _remove("reason")(v2)
    (schema_dir / "PaymentFailed.v2.json").write_text(json.dumps(v2))
    current = _current_with("PaymentFailed", 2, v2)
    assert contract_violations(published, schema_dir, current) == []

    (schema_dir / "PaymentFailed.v1.json").unlink()  # the old version dropped: not allowed
    assert contract_violations(published, schema_dir, current) == [
        f"PaymentFailed.v1.json: an older version, no longer published in {schema_dir}"
    ]


def test_an_old_version_edited_after_publication_fails(tmp_path: Path) -> None:
    schema_dir, published = _workspace(tmp_path)
    v2 = event_schema(PaymentFailed)
    old = json.loads((schema_dir / "PaymentFailed.v1.json").read_text())
    old["properties"]["reason"]["type"] = "integer"
    (schema_dir / "PaymentFailed.v1.json").write_text(json.dumps(old))
    problems = contract_violations(published, schema_dir, _current_with("PaymentFailed", 2, v2))
    assert problems == ["PaymentFailed.v1.json: an older version, changed after it was published"]


def test_a_removed_event_type_fails(tmp_path: Path) -> None:
    schema_dir, published = _workspace(tmp_path)
    current = current_event_schemas()
    del current["PaymentVoided"]
    problems = contract_violations(published, schema_dir, current)
    assert problems == ["PaymentVoided.v1.json: the event type PaymentVoided is gone"]
