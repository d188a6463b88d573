"""latest.png: throughput over time of every phase of every round, and latency distributions.

The left panel shows whether a phase ran steadily (a dip in one round is a neighbour's
noise, a slope is warm-up or a leak); the right one the whole latency distribution of each
side, under load and one saga at a time, rather than three percentiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.measure import Phase
from bench.rounds import Round

BIN_SECONDS = 2.0
COLOURS = {"limit": "tab:blue", "product": "tab:orange"}
STYLES = ("-", "--", ":", "-.")


def _rate_over_time(phase: Phase) -> tuple[list[float], list[float]]:
    if not phase.finished:
        return [], []
    bins = int(max(phase.finished) // BIN_SECONDS) + 1
    counts = [0] * bins
    for t in phase.finished:
        counts[int(t // BIN_SECONDS)] += 1
    return [(i + 0.5) * BIN_SECONDS for i in range(bins)], [n / BIN_SECONDS for n in counts]


def _cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    ordered = sorted(v * 1000 for v in values)
    n = len(ordered)
    return ordered, [(i + 1) / n for i in range(n)]


def draw(rounds: Sequence[Round], path: Path) -> Path:
    fig, (timeline, cdf) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in rounds:
        style = STYLES[(r.number - 1) % len(STYLES)]
        for side, phase in (("limit", r.limit), ("product", r.product)):
            x, y = _rate_over_time(phase)
            timeline.plot(
                x,
                y,
                style,
                color=COLOURS[side],
                label=f"{side}, round {r.number}",
                linewidth=1.2,
                marker="o" if len(x) < 3 else None,  # a phase shorter than a bin is a dot
                drawstyle="steps-mid",
            )
    timeline.set(
        title=f"Sagas completed per second ({BIN_SECONDS:g} s bins)",
        xlabel="seconds since the phase started",
        ylabel="sagas/s",
    )
    timeline.grid(alpha=0.3)
    timeline.legend(fontsize="small")
    for side in ("limit", "product"):
        loaded = [t for r in rounds for t in (r.limit if side == "limit" else r.product).latencies]
        alone = [
            t
            for r in rounds
            for t in (r.bare_single if side == "limit" else r.product_single).latencies
        ]
        if loaded:
            cdf.step(*_cdf(loaded), where="post", color=COLOURS[side], label=f"{side}, under load")
        if alone:
            cdf.step(
                *_cdf(alone),
                "--",
                where="post",
                color=COLOURS[side],
                label=f"{side}, one at a time",
            )
    cdf.set(
        title="Saga latency, start to end (all rounds)",
        xlabel="ms (log scale)",
        ylabel="fraction of sagas",
        xscale="log",
    )
    cdf.grid(alpha=0.3, which="both")
    cdf.legend(fontsize="small", loc="best")
    fig.suptitle("Bare Temporal saga (limit) vs the product, interleaved rounds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
