"""The HTTP API keeps its published contract (schemas/openapi/published.json): oasdiff's
breaking-change check between the snapshot and the document the API serves now."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devstack import go_servers
from devstack.process import ServiceUnavailableError
from tests.fixtures.services import service_unavailable
from tools.publish_contracts import PUBLISHED_OPENAPI, current_openapi, render_openapi


@pytest.fixture(scope="module")
def oasdiff() -> Path:
    try:
        return go_servers.binary("oasdiff")
    except (ServiceUnavailableError, subprocess.CalledProcessError, OSError) as exc:
        service_unavailable(f"oasdiff could not be built ({exc}); needs the Go toolchain")


def _breaking(oasdiff: Path, base: Path, revision: dict[str, Any], tmp_path: Path) -> str:
    """oasdiff's report; raises AssertionError with it when it finds an ERR-level change."""
    current = tmp_path / "current.json"
    current.write_text(render_openapi(revision))
    result = subprocess.run(
        [
            str(oasdiff),
            "breaking",
            str(base),
            str(current),
            "--fail-on",
            "ERR",
            "--allow-external-refs=false",
            "--color",
            "never",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    if result.returncode == 1:
        raise AssertionError(result.stdout)
    return result.stdout


def test_the_api_keeps_its_published_contract(oasdiff: Path, tmp_path: Path) -> None:
    """No ERR-level breaking change between the snapshot and /openapi.json today. If one is
    intended, it needs a new API version; cut a release with `make publish-contracts`."""
    _breaking(oasdiff, PUBLISHED_OPENAPI, current_openapi(), tmp_path)


def _published() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PUBLISHED_OPENAPI.read_text())
    return document


def test_removing_a_path_fails_the_check(oasdiff: Path, tmp_path: Path) -> None:
    """The check can fail: a path taken away is reported as breaking."""
    changed = copy.deepcopy(_published())
    del changed["paths"]["/orders/{order_id}/events"]
    with pytest.raises(AssertionError, match="api-path-removed"):
        _breaking(oasdiff, PUBLISHED_OPENAPI, changed, tmp_path)


def test_removing_a_required_response_field_fails_the_check(oasdiff: Path, tmp_path: Path) -> None:
    """An order without ``status`` breaks every client reading it."""
    changed = copy.deepcopy(_published())
    order = changed["components"]["schemas"]["OrderPublic"]
    del order["properties"]["status"]
    order["required"].remove("status")
    with pytest.raises(AssertionError, match="response-required-property-removed"):
        _breaking(oasdiff, PUBLISHED_OPENAPI, changed, tmp_path)


def test_an_added_optional_response_field_passes(oasdiff: Path, tmp_path: Path) -> None:
    """Growing a response by an optional field is what the API may do without a new version."""
    changed = copy.deepcopy(_published())
    changed["components"]["schemas"]["OrderPublic"]["properties"]["note"] = {"type": "string"}
    _breaking(oasdiff, PUBLISHED_OPENAPI, changed, tmp_path)
