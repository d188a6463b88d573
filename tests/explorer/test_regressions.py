"""Every schedule that once broke the saga ends as it must now, its invariants intact."""

from __future__ import annotations

import pytest

from tests.explorer.explore import Explorer
from tests.explorer.regressions import REGRESSIONS, Regression
from tests.explorer.runner import Outcome


@pytest.fixture(scope="module")
def outcomes(explorer: Explorer) -> dict[str, Outcome]:
    """All regression schedules, run at once."""
    names = list(REGRESSIONS)
    ran = explorer.run([REGRESSIONS[name].schedule for name in names])
    return dict(zip(names, ran, strict=True))


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_a_schedule_that_once_broke_the_saga_now_ends_right(
    name: str, outcomes: dict[str, Outcome]
) -> None:
    """The saga ends as written, no invariant breaks, and an act that must be refused is."""
    regression: Regression = REGRESSIONS[name]
    outcome = outcomes[name]
    assert not outcome.problems, outcome.describe()
    assert outcome.facts.saga_ended, outcome.describe()
    assert outcome.facts.saga_status is regression.ends, outcome.describe()
    if regression.refused is not None:
        assert _answer_to(outcome, regression.refused).startswith("WorkflowUpdateFailedError"), (
            outcome.describe()
        )


def _answer_to(outcome: Outcome, act: object) -> str:
    """What the scripted act got back, from the trace (each act's answer follows it)."""
    trace = list(outcome.trace)
    for index, entry in enumerate(trace):
        if entry.startswith(f"{act}@"):
            following = trace[index + 1] if index + 1 < len(trace) else ""
            return following.removeprefix("  -> ")
    raise AssertionError(f"{act} never happened: {outcome.describe()}")
