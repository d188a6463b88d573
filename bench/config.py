"""What one benchmark run does: how many orders, rounds and samples, and where it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class BenchConfig:
    # Sagas per load phase; each round runs one limit phase and one product phase.
    orders: int = 300
    concurrency: int = 24
    # Limit and product phases alternate this many times: a burst of noise from another
    # tenant of the machine lands in one round, and the median of the rounds ignores it.
    rounds: int = 3
    latency_samples: int = 15
    scale_orders: int = 40
    scale_concurrency: int = 16
    # One then two payments workers, this many times (each round restarts the second).
    scale_rounds: int = 2
    # Slow enough that one capped payments worker is the bottleneck and two are still well
    # under what the rest of the stack reaches on a shared two-core machine, so the second
    # worker can show (at 500 ms two workers' 3.6/s came close to the product's peak).
    gateway_latency_ms: int = 1000
    payments_cap: int = 1
    # POSTs at half the product's measured peak, fired on a fixed schedule (open loop).
    open_loop_seconds: float = 25.0
    # Completed workflows of each kind whose histories are read to count actions.
    history_sample: int = 20
    run_dir: Path = Path(".run/bench")
    out_dir: Path = Path("bench/results")
    name: str = "latest"
    profile: bool = False
    # Orders for the memory soak (0 = skip): RSS after the first ones vs at the end.
    soak: int = 0

    @classmethod
    def smoke(cls) -> BenchConfig:
        return cls(
            orders=6,
            concurrency=3,
            rounds=2,
            latency_samples=2,
            scale_orders=4,
            scale_concurrency=4,
            scale_rounds=1,
            gateway_latency_ms=50,
            open_loop_seconds=3.0,
            history_sample=3,
            name="smoke",
            out_dir=Path(".run/bench-smoke"),
            run_dir=Path(".run/bench-smoke"),
        )

    @property
    def soak_first(self) -> int:
        """Orders before the first RSS sample: warm caches and pools, not yet a leak."""
        return max(1, min(1000, self.soak // 10))
