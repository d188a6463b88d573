"""A CRD's schema as the API server applies it under strict field validation.

The CRDs' OpenAPI schemas leave objects open (the API server prunes unknown fields); to
catch a misspelt field as ``kubectl apply --validate=strict`` does, every object schema
that lists its properties is closed here unless it says it keeps unknown fields.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["closed_schema"]


def _closed(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    keeps_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in schema and "additionalProperties" not in schema and not keeps_unknown:
        closed["additionalProperties"] = False
    return closed


def closed_schema(openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """One version's ``openAPIV3Schema``, closed; metadata is left to the API server."""
    schema = copy.deepcopy(openapi_schema)
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    closed: dict[str, Any] = _closed(schema)
    return closed
