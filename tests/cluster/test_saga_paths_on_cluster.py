"""The saga paths against the two-node cluster (mTLS, namespace ``orders`` from bootstrap).

The dev-server tests of tests/integration/test_saga_paths.py run here unchanged (the
conftest points ``temporal_client`` at the cluster); the race, the cancel through the
Temporal CLI and the visibility query are the cluster's own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from temporalio.client import WorkflowExecutionStatus

from devstack.temporal import temporal_cli
from devstack.temporal_cluster import TemporalCluster
from devstack.temporal_tls import SERVER_NAME
from messages.queues import order_workflow_id
from models.order_status import OrderStatus
from tests.cluster.conftest import NAMESPACE
from tests.integration.invariant_facts import assert_invariants
from tests.integration.saga_data import add_product, order_of, snapshot, stock_of
from tests.integration.test_saga_paths import (  # the same tests, collected here again
    Rig,
    rig,
    test_cancel_before_reserve_records_a_cancelled_order,
    test_declined_card_releases_the_reservation,
    test_happy_path_confirms_charges_once_and_mails_once,
    test_out_of_stock_rejects_and_charges_nothing,
)

__all__ = [
    "rig",
    "test_cancel_before_reserve_records_a_cancelled_order",
    "test_declined_card_releases_the_reservation",
    "test_happy_path_confirms_charges_once_and_mails_once",
    "test_out_of_stock_rejects_and_charges_nothing",
]


def cli(cluster: TemporalCluster, *args: str) -> str:
    """The Temporal CLI against the cluster's second frontend, over mTLS."""
    certificates = cluster.certificates
    assert certificates is not None
    done = subprocess.run(
        [
            str(temporal_cli()),
            *args,
            "--address",
            cluster.addresses[-1],
            "--namespace",
            NAMESPACE,
            "--tls-cert-path",
            str(certificates.client_cert),
            "--tls-key-path",
            str(certificates.client_key),
            "--tls-ca-path",
            str(certificates.ca),
            "--tls-server-name",
            SERVER_NAME,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_twenty_orders_race_for_five_units_on_the_cluster(rig: Rig) -> None:
    """20 sagas, 5 units: exactly 5 CONFIRMED, 15 REJECTED, stock never negative."""
    await add_product(rig.sessions, "sku-race", stock=5)
    orders = [snapshot(("sku-race", 1)) for _ in range(20)]
    results = await asyncio.gather(*(rig.run(order) for order in orders))
    statuses = [result.status for result in results]
    assert statuses.count(OrderStatus.CONFIRMED) == 5, statuses
    assert statuses.count(OrderStatus.REJECTED) == 15, statuses
    stock = await stock_of(rig.sessions, "sku-race")
    assert (stock.quantity, stock.reserved) == (5, 5)
    charged = [o for o in orders if rig.provider.charge_count(f"order-{o.order_id}") == 1]
    assert len(charged) == 5
    for order, result in zip(orders, results, strict=True):
        await assert_invariants(rig.sessions, rig.provider, order, result)


async def test_cancel_signal_from_the_temporal_cli_cancels_the_order(
    rig: Rig, temporal_cluster: TemporalCluster
) -> None:
    """`temporal workflow signal … --name cancel` while the charge is slow: CANCELLED,
    nothing left reserved, nothing left charged."""
    await add_product(rig.sessions, "sku-cli", stock=3)
    order = snapshot(("sku-cli", 1))
    rig.provider._latency = 2.0
    handle = await rig.start(order)
    await asyncio.to_thread(
        cli,
        temporal_cluster,
        "workflow",
        "signal",
        "--workflow-id",
        order_workflow_id(order.order_id),
        "--name",
        "cancel",
        "--input",
        json.dumps({"reason": "customer called"}),
    )
    result = await handle.result()
    assert result.status == "CANCELLED"
    assert (await stock_of(rig.sessions, "sku-cli")).reserved == 0
    row = await order_of(rig.sessions, order.order_id)
    assert row is not None
    assert row.status == "CANCELLED"
    await assert_invariants(rig.sessions, rig.provider, order, result)


async def test_a_cancellation_request_from_the_temporal_cli_is_an_order_cancel(
    rig: Rig, temporal_cluster: TemporalCluster
) -> None:
    """`temporal workflow cancel` (the Web UI's Request Cancellation) while the charge is
    slow: the charge finishes, is refunded, the stock released, the customer told; the
    workflow completes CANCELLED as a business outcome, never closes CANCELED halfway."""
    await add_product(rig.sessions, "sku-ui-cancel", stock=3)
    order = snapshot(("sku-ui-cancel", 1))
    rig.provider._latency = 2.0
    handle = await rig.start(order)
    for _ in range(600):
        if rig.provider.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(
        cli,
        temporal_cluster,
        "workflow",
        "cancel",
        "--workflow-id",
        order_workflow_id(order.order_id),
    )
    result = await handle.result()
    assert result.status == "CANCELLED"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    await assert_invariants(rig.sessions, rig.provider, order, result)


async def test_confirmed_orders_are_found_by_the_order_status_query(
    rig: Rig, temporal_cluster: TemporalCluster
) -> None:
    """SQL visibility on PostgreSQL answers OrderStatus='CONFIRMED', through the CLI."""
    await add_product(rig.sessions, "sku-vis", stock=3)
    confirmed = snapshot(("sku-vis", 1))
    declined = snapshot(("sku-vis", 1), token="tok_chargeDeclined")
    assert (await rig.run(confirmed)).status == "CONFIRMED"
    assert (await rig.run(declined)).status == "PAYMENT_FAILED"
    ids = {order_workflow_id(o.order_id) for o in (confirmed, declined)}
    query = "OrderStatus='CONFIRMED' AND WorkflowId IN ({})".format(
        ", ".join(f"'{i}'" for i in sorted(ids))
    )
    listed: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(
            cli, temporal_cluster, "workflow", "list", "--query", query, "--output", "json"
        )
        listed = [e["execution"]["workflowId"] for e in json.loads(out or "[]")]
        if listed:
            break
        await asyncio.sleep(0.5)
    assert listed == [order_workflow_id(confirmed.order_id)]
