"""``make dev``: the whole system on this machine, stopped together on Ctrl-C.

Embedded defaults need nothing installed: the Temporal dev server from the project's
environment and SQLite for the application. ``--postgres`` / ``--kafka`` start private
PostgreSQL and Kafka from the machine's binaries; ``DATABASE_URL`` and
``KAFKA_BOOTSTRAP_SERVERS`` point at existing ones instead.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from config.settings import load_settings
from devstack.stack import Stack, StackOptions
from messages import queues
from tools.token import mint_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL")
    parser.add_argument("--kafka", action="store_true", help="start a private Kafka broker")
    parser.add_argument(
        "--split-workers", action="store_true", help="one worker process per task queue"
    )
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    args = parser.parse_args()

    options = StackOptions(
        run_dir=args.run_dir,
        postgres=args.postgres,
        kafka=args.kafka,
        api_port=args.api_port,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
    )
    if args.split_workers:
        options.worker_groups = [[name] for name in queues.ALL]
    stack = Stack(options)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print("starting Temporal, database, API and workers …", flush=True)
        stack.start()
        settings = load_settings()
        customer = mint_token(
            settings.auth, subject="customer-1", role="customer", email="customer-1@example.com"
        )
        admin = mint_token(settings.auth, subject="admin-1", role="admin")
        print(
            f"""
  API          {stack.api_url}
  API docs     {stack.api_url}/docs
  Temporal UI  {stack.ui_url}
  database     {stack.env.get("ORDERS_DATABASE__URL", settings.database.url)}
  Kafka        {stack.env.get("ORDERS_KAFKA__BOOTSTRAP_SERVERS") or "off (--kafka starts one)"}
  logs         {options.run_dir}/logs/

  customer token: {customer}
  admin token:    {admin}

  try: curl -s {stack.api_url}/products -H "Authorization: Bearer $TOKEN"
  Ctrl-C stops everything.
""",
            flush=True,
        )
        while not stopping:
            for process in stack.processes.values():
                process.check_alive()
            time.sleep(0.5)
    finally:
        print("stopping …", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
