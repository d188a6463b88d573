"""JSON Schemas of the event bodies, generated from ``models.events``; published with the code.

``python -m outbox.schemas`` (re)writes ``schemas/events/<EventType>.v<N>.json`` for every
event type, and the AsyncAPI document of the topics (``schemas/asyncapi.yaml``, see
:mod:`outbox.asyncapi`) from the same schemas. Each schema is pydantic's serialization-mode
schema of the dataclass (Decimal is a string, tuples are arrays) plus the ``schema_version``
every body carries (see :func:`outbox.cloudevents.message_body`). Files of older versions
are kept: consumers may still read events written under them.
``tests/unit/test_event_schemas.py`` fails when these files and the models disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from models.events import EVENT_TYPES, DomainEvent
from outbox.asyncapi import asyncapi_document, render_yaml
from outbox.cloudevents import SCHEMA_VERSION_FIELD, ce_type

SCHEMA_DIR: Final = Path(__file__).resolve().parent.parent / "schemas" / "events"
ASYNCAPI_FILE: Final = SCHEMA_DIR.parent / "asyncapi.yaml"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def schema_filename(cls: type[DomainEvent]) -> str:
    return f"{cls.__name__}.v{cls.schema_version}.json"


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    """The JSON Schema of ``cls``'s message body."""
    generated = TypeAdapter(cls).json_schema(mode="serialization")
    properties = generated.setdefault("properties", {})
    if SCHEMA_VERSION_FIELD in properties:
        raise ValueError(f"{cls.__name__} must not have a field named {SCHEMA_VERSION_FIELD}")
    properties[SCHEMA_VERSION_FIELD] = {
        "const": cls.schema_version,
        "description": "Version of this schema; also the .v<N> suffix of ce_type.",
        "title": "Schema Version",
        "type": "integer",
    }
    generated["required"] = [*generated.get("required", []), SCHEMA_VERSION_FIELD]
    return {
        "$schema": DIALECT,
        "$comment": (
            f"CloudEvents type {ce_type(cls.__name__, cls.schema_version)}. Generated from "
            f"models.events.{cls.__name__} by `python -m outbox.schemas`; do not edit."
        ),
        **generated,
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name -> contents, for the current version of every event type."""
    return {schema_filename(cls): render(event_schema(cls)) for cls in EVENT_TYPES.values()}


def expected_asyncapi() -> str:
    """The AsyncAPI document, built from the same schemas as the files."""
    return render_yaml(asyncapi_document({cls: event_schema(cls) for cls in EVENT_TYPES.values()}))


def write_schemas(directory: Path = SCHEMA_DIR, asyncapi: Path = ASYNCAPI_FILE) -> list[Path]:
    """Write the schema files (and the AsyncAPI document) that are missing or differ;
    returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {directory / name: text for name, text in expected_files().items()}
    wanted[asyncapi] = expected_asyncapi()
    written = []
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def main() -> int:
    written = write_schemas()
    for path in written:
        sys.stdout.write(f"wrote {path}\n")
    sys.stdout.write(
        f"{len(EVENT_TYPES)} event schemas in {SCHEMA_DIR} and {ASYNCAPI_FILE.name}, "
        f"{len(written)} files changed\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
