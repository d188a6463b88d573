"""``make explore``: the schedule explorer at length (50,000 schedules unless told).

    python -m tests.explorer [--schedules N] [--seed S]

Prints its progress as it goes and, at the end, the count, the duration and the rate;
exits non-zero with the shrunk schedule when an invariant breaks.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.explorer.explore import explore, print_progress, running_explorer


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.explorer", description=__doc__)
    parser.add_argument("--schedules", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=None, help="fixed seed (default: random)")
    args = parser.parse_args()
    started = time.monotonic()
    print_progress(f"exploring {args.schedules} schedules (seed {args.seed or 'random'}) …")
    with running_explorer() as explorer:
        print_progress("Temporal dev server (time skipping) and workers started")
        try:
            explore(
                explorer, schedules_wanted=args.schedules, seed=args.seed, progress=print_progress
            )
        except AssertionError as failed:
            print_progress(
                f"INVARIANT VIOLATED after {explorer.schedules_run} schedules:\n{failed}"
            )
            return 1
        took = time.monotonic() - started
        print_progress(
            f"done: {explorer.schedules_run} schedules in {took:.0f} s "
            f"({explorer.schedules_run / took:.1f}/s), 0 invariant violations"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
