"""The benchmark's ratios: taken per round, judged on their median, never on one round."""

from __future__ import annotations

import math
from pathlib import Path

from bench.measure import Phase
from bench.plot import draw
from bench.ratios import TARGETS, judge, ratio_spreads, round_ratios
from bench.rounds import Round


def phase(completed: int, seconds: float, latency: float = 0.2) -> Phase:
    return Phase(
        name="p",
        completed=completed,
        seconds=seconds,
        latencies=[latency] * completed,
        finished=[seconds * (i + 1) / completed for i in range(completed)],
    )


def a_round(
    number: int,
    product_per_second: float,
    *,
    server: tuple[float, float] = (10.0, 12.0),
    workers: tuple[float, float] = (5.0, 8.0),
) -> Round:
    """100 sagas a side; the limit runs at 10/s; CPU seconds (limit, product) as given."""
    return Round(
        number=number,
        bare_single=phase(3, 1.0, 0.2),
        limit=phase(100, 10.0),
        product_single=phase(3, 1.0, 0.24),
        product=phase(100, 100 / product_per_second),
        cpu_limit={"temporal": server[0], "bare-worker": workers[0], "worker-orders": 0.1},
        cpu_product={
            "temporal": server[1],
            "worker-orders": workers[1] / 2,
            "worker-payments": workers[1] / 2,
            "bare-worker": 0.1,
            "api": 3.0,
        },
    )


def test_cpu_per_order_compares_all_our_workers_with_the_one_bare_worker() -> None:
    """Idle polling of the other side's workers is not charged to either side."""
    ratios = round_ratios(a_round(1, 6.0, server=(10.0, 12.0), workers=(5.0, 8.0)))
    assert math.isclose(ratios["server_cpu_per_order_over_limit"], 1.2)
    assert math.isclose(ratios["worker_cpu_per_order_over_limit"], 1.6)
    assert math.isclose(ratios["throughput_product_over_limit"], 0.6)
    assert math.isclose(ratios["latency_p50_product_over_limit"], 1.2)


def test_one_slow_round_does_not_decide_the_throughput_gate() -> None:
    """Rounds at 0.65, 0.3 (a neighbour's burst) and 0.7: the median passes the gate."""
    rounds = [a_round(1, 6.5), a_round(2, 3.0), a_round(3, 7.0)]
    spreads = ratio_spreads(rounds, [(phase(30, 15.0), phase(30, 8.0))], post_p99_ms=40.0)
    throughput = spreads["throughput_product_over_limit"]
    assert throughput == {"median": 0.65, "min": 0.3, "max": 0.7, "rounds": [0.65, 0.3, 0.7]}
    verdicts = {v["key"]: v for v in judge(spreads)}
    assert verdicts["throughput_product_over_limit"]["gate_pass"] is True
    assert verdicts["throughput_product_over_limit"]["aim_pass"] is True
    assert verdicts["post_p99_ms_at_half_peak"]["aim_pass"] is True
    assert verdicts["payments_two_over_one_worker"]["median"] == 1.875
    assert set(verdicts) == {target.key for target in TARGETS}


def test_a_ratio_that_could_not_be_measured_fails_its_gate() -> None:
    rounds = [a_round(1, 6.0), a_round(2, 6.0)]
    spreads = ratio_spreads(rounds, [], post_p99_ms=float("nan"))
    verdicts = {v["key"]: v for v in judge(spreads)}
    assert verdicts["payments_two_over_one_worker"]["gate_pass"] is False
    assert verdicts["post_p99_ms_at_half_peak"]["gate_pass"] is False


def test_the_picture_is_written_as_a_png(tmp_path: Path) -> None:
    written = draw([a_round(1, 6.0), a_round(2, 5.0)], tmp_path / "latest.png")
    assert written.read_bytes().startswith(b"\x89PNG")
