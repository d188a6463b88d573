"""One explorer environment (dev server with time skipping, both worker pools) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.process import ServiceUnavailableError
from tests.explorer.explore import Explorer, running_explorer
from tests.fixtures.services import service_unavailable


@pytest.fixture(scope="module")
def explorer() -> Iterator[Explorer]:
    try:
        with running_explorer() as running:
            yield running
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
