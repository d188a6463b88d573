"""Validate an event body against its published JSON Schema (``schemas/events``).

The schema is picked by ``ce_type`` (``<Type>.v<N>`` -> ``<Type>.v<N>.json``): a type or
version with no published schema is unknown to this consumer and is rejected like a body
that does not match, so the consumer parks it instead of guessing.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from outbox.cloudevents import InvalidEventMessageError, ReceivedEvent
from outbox.schemas import SCHEMA_DIR


class SchemaValidator:
    def __init__(self, directory: Path = SCHEMA_DIR) -> None:
        self._directory = directory

    def __call__(self, event: ReceivedEvent) -> None:
        """Raise :class:`InvalidEventMessageError` unless ``event.data`` matches its schema."""
        validator = self._validator(event.event_type, event.schema_version)
        if validator is None:
            raise InvalidEventMessageError(
                f"unknown event type {event.ce_type}: no schema "
                f"{event.event_type}.v{event.schema_version}.json"
            )
        error = best_match(validator.iter_errors(event.data))
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path) or "(body)"
            raise InvalidEventMessageError(
                f"{event.ce_type} does not match its schema at {where}: {error.message}"
            )

    def _validator(self, event_type: str, version: int) -> Draft202012Validator | None:
        return _load(self._directory / f"{event_type}.v{version}.json")


@cache
def _load(path: Path) -> Draft202012Validator | None:
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)
