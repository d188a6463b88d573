"""The saga's invariants (docs/invariants.md) hold under generated schedules.

Under CI a fixed seed explores ``EXPLORER_SCHEDULES`` schedules (2,000 by default) of
signals, updates, Temporal cancellation requests, webhooks, failures, replays and timers;
``make explore`` runs 50,000 and more. A failing batch shrinks to its minimal schedule,
which goes to tests/explorer/regressions.py.
"""

from __future__ import annotations

import os

import pytest

from tests.explorer.explore import Explorer, explore, print_progress

SCHEDULES = int(os.environ.get("EXPLORER_SCHEDULES", "2000"))
SEED = int(os.environ.get("EXPLORER_SEED", "20261207"))


# The budget CI gives the explorer is 8 minutes; past 10 something is wrong.
@pytest.mark.timeout(600)
def test_no_generated_schedule_breaks_an_invariant(explorer: Explorer) -> None:
    """Every schedule ends with nothing held that its ending does not rightly hold, the
    read model equal to the saga's outcome, one terminal event and one notice; a saga
    that has not ended waits for an operator and says where."""
    explore(explorer, schedules_wanted=SCHEDULES, seed=SEED, progress=print_progress)
    assert explorer.schedules_run >= SCHEDULES
