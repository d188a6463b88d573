"""Whether a change to an event schema would break a consumer, against the published contract.

``schemas/events/published/`` holds every schema version that was ever released (``make
publish-contracts`` copies them when a release is cut). A consumer written against a
published version must keep working, and a consumer replaying or backfilling history must
still accept every event written under it, so the current schema of a published version may
only *add* optional fields. Anything else needs a new ``schema_version`` (a new ``ce_type``
and file), with the old version's file kept in ``schemas/events/`` unchanged. The rules, as
:func:`breaking_changes` applies them to an old and a new schema:

- a field that disappears (removed or renamed) breaks readers of it;
- a field whose JSON types change (including ``null`` added or taken away) breaks readers
  and writers alike;
- a field that becomes required breaks the old events that lack it;
- an enumeration (``enum`` or ``const``) that loses a value breaks the old events that
  carry it.

Only structure is compared (``properties``, ``required``, ``type``/``anyOf``, ``items``,
``enum``/``const``); tighter string patterns or bounds are not detected, so treat them as
breaking yourself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from outbox.asyncapi import inline_defs

FILE_NAME: Final = re.compile(r"^(?P<name>[A-Za-z0-9]+)\.v(?P<version>\d+)\.json$")
_ALL_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    """The JSON types a (sub)schema admits: its ``type``, or the union over ``anyOf``."""
    if "anyOf" in schema:
        return frozenset().union(*(_types(branch) for branch in schema["anyOf"]))
    declared = schema.get("type")
    if declared is None:
        return _ALL_TYPES
    return frozenset([declared] if isinstance(declared, str) else declared)


def _branch(schema: Mapping[str, Any], json_type: str) -> Mapping[str, Any]:
    """The part of ``schema`` that describes values of ``json_type`` (for nested checks)."""
    for branch in schema.get("anyOf", [schema]):
        if json_type in _types(branch):
            return dict(branch)
    return {}


def _values(schema: Mapping[str, Any]) -> frozenset[str] | None:
    """The allowed values of an enumeration (JSON-encoded), or None when unrestricted."""
    if "const" in schema:
        return frozenset([json.dumps(schema["const"])])
    if "enum" in schema:
        return frozenset(json.dumps(value) for value in schema["enum"])
    if "anyOf" in schema:
        parts = [_values(branch) for branch in schema["anyOf"]]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*(part for part in parts if part is not None))
    return None


def _compare(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    old_types, new_types = _types(old), _types(new)
    if old_types != new_types:
        problems.append(f"{where}: type changed from {sorted(old_types)} to {sorted(new_types)}")
    old_values, new_values = _values(old), _values(new)
    if old_values is not None and new_values is not None and not old_values <= new_values:
        problems.append(f"{where}: enumeration lost {', '.join(sorted(old_values - new_values))}")
    if "object" in old_types & new_types:
        problems += _compare_objects(_branch(old, "object"), _branch(new, "object"), where)
    old_array, new_array = _branch(old, "array"), _branch(new, "array")
    if "array" in old_types & new_types and ("items" in old_array or "items" in new_array):
        problems += _compare(old_array.get("items", {}), new_array.get("items", {}), f"{where}[]")
    return problems


def _compare_objects(old: Mapping[str, Any], new: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    old_properties = old.get("properties", {})
    new_properties = new.get("properties", {})
    for name, old_property in old_properties.items():
        if name not in new_properties:
            problems.append(f"{where}.{name}: removed (or renamed)")
        else:
            problems += _compare(old_property, new_properties[name], f"{where}.{name}")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{where}.{name}: newly required")
    return problems


def breaking_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What in ``new`` would break a consumer of ``old``; empty when the change is additive."""
    return _compare(inline_defs(dict(old)), inline_defs(dict(new)), "$")


def _read(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def _versions(directory: Path) -> dict[tuple[str, int], Path]:
    found = {}
    for path in sorted(directory.glob("*.json")):
        match = FILE_NAME.match(path.name)
        if match is not None:
            found[(match["name"], int(match["version"]))] = path
    return found


def contract_violations(
    published_dir: Path,
    schema_dir: Path,
    current: Mapping[str, tuple[int, Mapping[str, Any]]],
) -> list[str]:
    """Every way the current schemas (event type -> (version, schema)) and the schema files
    in ``schema_dir`` break the contract published in ``published_dir``."""
    published = _versions(published_dir)
    problems = []
    for (name, version), path in published.items():
        where = path.name
        if name not in current:
            problems.append(f"{where}: the event type {name} is gone")
            continue
        current_version, schema = current[name]
        if version == current_version:
            problems += [f"{where}: {p}" for p in breaking_changes(_read(path), schema)]
            continue
        if version > current_version:
            problems.append(f"{where}: published, but the model is at v{current_version}")
            continue
        kept = schema_dir / path.name
        if not kept.exists():
            problems.append(f"{where}: an older version, no longer published in {schema_dir}")
        elif _read(kept) != _read(path):
            problems.append(f"{where}: an older version, changed after it was published")
    return problems
