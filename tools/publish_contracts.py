"""``python -m tools.publish_contracts`` (``make publish-contracts``): when a release is cut,
record what it publishes as the contract later changes are checked against.

- every event schema file in ``schemas/events/`` (all versions, old ones included) is copied
  to ``schemas/events/published/``;
- the HTTP API's OpenAPI document is written to ``schemas/openapi/published.json``.

It refuses while the current schemas break the published ones (see
:mod:`outbox.schema_compat`): bump the event's ``schema_version`` first. The OpenAPI snapshot
is replaced as it is; ``tests/contracts/test_openapi_compat.py`` checks it with oasdiff
before a release. Commit the changed files with the release.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Final

from api import create_app
from config.settings import Settings
from models.events import EVENT_TYPES
from outbox.schema_compat import contract_violations
from outbox.schemas import SCHEMA_DIR, event_schema, expected_files

PUBLISHED_EVENTS: Final = SCHEMA_DIR / "published"
PUBLISHED_OPENAPI: Final = SCHEMA_DIR.parent / "openapi" / "published.json"


def current_openapi() -> dict[str, Any]:
    """The document the API serves at /openapi.json (building the app connects nothing)."""
    return create_app(Settings()).openapi()


def current_event_schemas() -> dict[str, tuple[int, dict[str, Any]]]:
    return {name: (cls.schema_version, event_schema(cls)) for name, cls in EVENT_TYPES.items()}


def render_openapi(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def publish(
    schema_dir: Path = SCHEMA_DIR,
    published_dir: Path = PUBLISHED_EVENTS,
    openapi_file: Path = PUBLISHED_OPENAPI,
) -> list[Path]:
    stale = [
        name
        for name, text in expected_files().items()
        if not (schema_dir / name).exists() or (schema_dir / name).read_text() != text
    ]
    if stale:
        raise SystemExit(f"schemas out of date ({', '.join(stale)}): run `make schemas` first")
    problems = contract_violations(published_dir, schema_dir, current_event_schemas())
    if problems:
        raise SystemExit("not published, the change breaks consumers:\n  " + "\n  ".join(problems))
    published_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(schema_dir.glob("*.json")):
        target = published_dir / path.name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
            written.append(target)
    openapi_file.parent.mkdir(parents=True, exist_ok=True)
    text = render_openapi(current_openapi())
    if not openapi_file.exists() or openapi_file.read_text() != text:
        openapi_file.write_text(text)
        written.append(openapi_file)
    return written


def main() -> int:
    written = publish()
    for path in written:
        sys.stdout.write(f"published {path}\n")
    sys.stdout.write(f"{len(written)} contract files changed; commit them with the release\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
