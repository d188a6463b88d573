"""Validate custom resources against the CRDs their operator ships, as the API server would.

The CRDs' OpenAPI schemas leave objects open (the API server prunes unknown fields); to
catch a misspelt field as ``kubectl apply --validate=strict`` does, every object schema
that lists its properties is closed here unless it says it keeps unknown fields.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["CrdSchemas"]


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


class CrdSchemas:
    """The schemas of every CRD in ``folder``, by (apiVersion, kind)."""

    def __init__(self, folder: Path) -> None:
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(folder.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                # metadata is validated by the API server itself, not by the CRD.
                schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                self.schemas[(f"{group}/{version['name']}", kind)] = _closed(schema)

    def covers(self, document: dict[str, Any]) -> bool:
        return (document.get("apiVersion"), document.get("kind")) in self.schemas

    def validate(self, document: dict[str, Any]) -> None:
        schema = self.schemas[(document["apiVersion"], document["kind"])]
        jsonschema.Draft7Validator(schema).validate(document)
