"""``python -m workers [--queue NAME …]``: several queues in one process (all by default)."""

import argparse

from messages import queues
from workers.runner import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queue", action="append", choices=queues.ALL, dest="queue_names")
    args = parser.parse_args()
    main(args.queue_names or list(queues.ALL))
