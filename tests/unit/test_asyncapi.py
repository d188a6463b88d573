"""The AsyncAPI document (schemas/asyncapi.yaml) is what the models generate, and the
AsyncAPI parser (tools/asyncapi, Node.js) accepts it without an error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from models.events import EVENT_TYPES
from outbox.asyncapi import SUMMARIES
from outbox.schemas import ASYNCAPI_FILE, event_schema, expected_asyncapi
from tests.fixtures.services import service_unavailable
from tests.unit.test_event_schemas import SAMPLES, wire_body

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR_DIR = ROOT / "tools" / "asyncapi"


def _document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ASYNCAPI_FILE.read_text())
    return document


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        service_unavailable("Node.js is not installed (apt-get install nodejs npm)")
    if not (VALIDATOR_DIR / "node_modules" / "@asyncapi" / "parser").is_dir():
        service_unavailable(f"no AsyncAPI parser: run `npm ci` in {VALIDATOR_DIR}")
    return subprocess.run(
        [node, "validate.mjs", str(path)],
        cwd=VALIDATOR_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_document_is_what_the_models_generate() -> None:
    """A changed event without `make schemas` fails here, as the JSON Schemas do."""
    assert ASYNCAPI_FILE.read_text() == expected_asyncapi(), "run `make schemas`"


def test_every_event_type_is_a_message_on_its_topics_channel() -> None:
    """One message per event type, with its ce_type and its payload schema, on its topic."""
    document = _document()
    messages = document["components"]["messages"]
    assert set(messages) == set(EVENT_TYPES) == set(SUMMARIES)
    for name, cls in EVENT_TYPES.items():
        channel = document["channels"][f"{cls.aggregate_type}Events"]
        assert name in channel["messages"], name
        ce_type = messages[name]["headers"]["properties"]["ce_type"]["const"]
        assert ce_type == f"com.example.orders.{name}.v{cls.schema_version}"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_a_messages_payload_accepts_what_the_relay_sends(event_type: str) -> None:
    """The payload schema (``$defs`` inlined) takes the real body and says what the JSON
    Schema file says: same required fields and properties."""
    payload = _document()["components"]["messages"][event_type]["payload"]
    Draft202012Validator(payload).validate(wire_body(SAMPLES[event_type]))
    original = event_schema(EVENT_TYPES[event_type])
    assert payload["required"] == original["required"]
    assert set(payload["properties"]) == set(original["properties"])


def test_the_asyncapi_parser_accepts_the_document() -> None:
    """@asyncapi/parser reports no diagnostic of error severity."""
    result = _validate(ASYNCAPI_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout


def test_the_asyncapi_parser_rejects_a_broken_document(tmp_path: Path) -> None:
    """The check can fail: an AsyncAPI 2 verb and a reference to nowhere are errors."""
    document = _document()
    operation = next(iter(document["operations"].values()))
    operation["action"] = "publish"
    operation["channel"] = {"$ref": "#/channels/noSuchChannel"}
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    result = _validate(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "INVALID" in result.stdout
