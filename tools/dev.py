"""``make dev``: the whole system on this machine, stopped together on Ctrl-C.

Embedded defaults need nothing installed: the Temporal dev server from the project's
environment and SQLite for the application. ``--postgres`` / ``--kafka`` start private
PostgreSQL (durable: fsync on) and Kafka from the machine's binaries; ``DATABASE_URL`` and
``KAFKA_BOOTSTRAP_SERVERS`` point at existing ones instead.

A child that dies unexpectedly (a worker killed with ``kill -9``, a crashed broker) is
logged and started again with backoff, like ``restart: unless-stopped`` in the compose
file; Ctrl-C stops everything, children first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from config.settings import load_settings
from devstack import production
from devstack.stack import Stack, StackOptions
from devstack.supervisor import StopRequest, say
from devstack.tokens import mint_token
from messages import queues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-dir", type=Path, default=Path(".run"))
    parser.add_argument("--postgres", action="store_true", help="start a private PostgreSQL")
    parser.add_argument("--kafka", action="store_true", help="start a private Kafka broker")
    parser.add_argument(
        "--split-workers", action="store_true", help="one worker process per task queue"
    )
    parser.add_argument(
        "--metrics", action="store_true", help="a Prometheus endpoint on every process"
    )
    parser.add_argument(
        "--tracing", action="store_true", help="start Jaeger and export every process's spans"
    )
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument(
        "--production",
        action="store_true",
        help="the production topology: two-node Temporal cluster (mTLS) on durable "
        "PostgreSQL, Web UI, Kafka, one worker per queue, relay (devstack/production.py)",
    )
    args = parser.parse_args()
    if args.production:
        ignored = [
            flag
            for flag in ("postgres", "kafka", "split_workers", "metrics", "tracing")
            if getattr(args, flag)
        ]
        if ignored:
            parser.error(
                "--production already runs PostgreSQL, Kafka and one worker per queue; it "
                f"cannot be combined with --{', --'.join(f.replace('_', '-') for f in ignored)}"
            )
        run_dir = args.run_dir if args.run_dir != Path(".run") else Path(".run/production")
        production.run(
            production.ProductionOptions(
                run_dir=run_dir, api_port=args.api_port, ui_port=args.ui_port
            )
        )
        return

    options = StackOptions(
        run_dir=args.run_dir,
        postgres=args.postgres,
        kafka=args.kafka,
        api_port=args.api_port,
        temporal_port=args.temporal_port,
        ui_port=args.ui_port,
        metrics=args.metrics,
        tracing=args.tracing,
    )
    if args.split_workers:
        options.worker_groups = [[name] for name in queues.ALL]
    stack = Stack(options)
    stop = StopRequest()
    try:
        print("starting Temporal, database, API and workers …", flush=True)
        stack.start()
        settings = load_settings()
        customer = mint_token(
            settings.auth, subject="customer-1", role="customer", email="customer-1@example.com"
        )
        operator = mint_token(
            settings.auth, subject="operator-1", role="operator", email="operator-1@example.com"
        )
        addresses = {
            **stack.addresses(),
            **{f"metrics {name}": url for name, url in stack.metrics_urls.items()},
            "logs": f"{options.run_dir}/logs/",
        }
        width = max(map(len, addresses))
        listing = "\n".join(f"  {name:<{width}}  {where}" for name, where in addresses.items())
        print(
            f"""
{listing}

  customer token: {customer}
  operator token: {operator}

  try: curl -s {stack.api_url}/products -H "Authorization: Bearer $TOKEN"
  A child that dies is restarted; Ctrl-C stops everything.
""",
            flush=True,
        )
        stop.supervise_until_requested(stack.supervise(say))
    finally:
        print("stopping …", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
