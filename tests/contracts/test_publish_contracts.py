"""``make publish-contracts`` records a release's contract, and refuses a breaking one.
Run on copies in a temporary folder, never on the committed files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from outbox.schemas import SCHEMA_DIR
from tools.publish_contracts import current_openapi, publish


def _copies(tmp_path: Path) -> tuple[Path, Path, Path]:
    schema_dir = tmp_path / "events"
    shutil.copytree(SCHEMA_DIR, schema_dir)
    shutil.rmtree(schema_dir / "published")
    return schema_dir, schema_dir / "published", tmp_path / "openapi" / "published.json"


def test_publishing_snapshots_every_schema_version_and_the_openapi_document(
    tmp_path: Path,
) -> None:
    """All schema files are copied; the OpenAPI snapshot is the served document; a second
    run with nothing changed writes nothing."""
    schema_dir, published, openapi = _copies(tmp_path)
    written = publish(schema_dir, published, openapi)
    assert {p.name for p in published.glob("*.json")} == {p.name for p in schema_dir.glob("*.json")}
    assert json.loads(openapi.read_text()) == current_openapi()
    assert len(written) == len(list(schema_dir.glob("*.json"))) + 1
    assert publish(schema_dir, published, openapi) == []


def test_publishing_refuses_a_change_that_breaks_the_published_schemas(tmp_path: Path) -> None:
    """A published v1 with a field the current v1 lacks: nothing is written."""
    schema_dir, published, openapi = _copies(tmp_path)
    publish(schema_dir, published, openapi)
    snapshot = json.loads((published / "OrderCancelled.v1.json").read_text())
    snapshot["properties"]["cancelled_by"] = {"type": "string"}
    (published / "OrderCancelled.v1.json").write_text(json.dumps(snapshot))
    openapi.unlink()
    with pytest.raises(SystemExit, match=r"cancelled_by: removed"):
        publish(schema_dir, published, openapi)
    assert not openapi.exists()
