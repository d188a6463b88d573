"""What a load run needs from a started stack: the Temporal settings its processes use, a
customer's token its API accepts, and a product whose stock no run can exhaust.

The benchmark (bench/topology.py), the worker-cost run (bench/worker_cost.py) and the fault
runs (faults/harness.py) start the stack in its deployed shape (``StackOptions.deployed``)
and take these three from here.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg

from config.settings import CodecSettings, TemporalSettings, load_settings
from devstack.stack import Stack
from devstack.tokens import mint_token


def temporal_settings(stack: Stack) -> TemporalSettings:
    """The product's Temporal settings as its processes read them from the stack's env."""
    env = stack.env
    codec = CodecSettings()
    if "ORDERS_TEMPORAL__CODEC__KEYS" in env:
        codec = CodecSettings(
            keys=json.loads(env["ORDERS_TEMPORAL__CODEC__KEYS"]),
            active_key_id=env["ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID"],
        )
    return TemporalSettings(
        address=env["ORDERS_TEMPORAL__ADDRESS"],
        namespace=env.get("ORDERS_TEMPORAL__NAMESPACE", "default"),
        codec=codec,
        # The production topology's cluster serves mTLS only.
        tls_client_cert_path=env.get("ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH", ""),
        tls_client_key_path=env.get("ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH", ""),
        tls_server_ca_path=env.get("ORDERS_TEMPORAL__TLS_SERVER_CA_PATH", ""),
        tls_server_name=env.get("ORDERS_TEMPORAL__TLS_SERVER_NAME", ""),
    )


def customer_token(stack: Stack, subject: str, email: str) -> str:
    """Signed by the stack's local issuer when it runs one, else with the dev secret."""
    issuer_key = stack.issuer.key_path if stack.issuer is not None else None
    auth = load_settings().auth
    return mint_token(auth, subject, "customer", email=email, issuer_key=issuer_key)


def create_product(stack: Stack, name: str, sku_prefix: str) -> str:
    """A product with stock that no run can exhaust, written straight into the database."""
    assert stack.postgres is not None, "a load run needs the stack's PostgreSQL"
    product_id = f"{sku_prefix}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    with psycopg.connect(stack.postgres.conninfo("orders"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO products (id, name, unit_price, currency, created_at, updated_at)"
            " VALUES (%s, %s, 12.50, 'EUR', %s, %s)",
            (product_id, name, now, now),
        )
        conn.execute(
            "INSERT INTO inventory (product_id, quantity, reserved, reorder_point,"
            " reorder_quantity, updated_at) VALUES (%s, 1000000000, 0, 0, 0, %s)",
            (product_id, now),
        )
    return product_id
