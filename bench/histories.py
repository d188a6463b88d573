"""What one order costs Temporal, read from a sample of completed workflows' histories:
billable actions (bench/actions.py), history events and history bytes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

from bench.actions import billable_actions


@dataclass
class HistoryCost:
    """Means per workflow over the sample."""

    sampled: int
    actions: float
    events: float
    bytes: float
    actions_by_kind: dict[str, float] = field(default_factory=dict)


def spread_sample(items: list[str], size: int) -> list[str]:
    """``size`` items evenly spread over ``items`` (early, middle and late sagas alike)."""
    if len(items) <= size:
        return list(items)
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


async def _one(client: Client, workflow_id: str) -> tuple[Counter[str], int, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    info = described.workflow_execution_info
    return billable_actions(history.events), info.history_length, info.history_size_bytes


async def history_cost(client: Client, workflow_ids: list[str], sample: int) -> HistoryCost:
    chosen = spread_sample(workflow_ids, sample)
    if not chosen:
        nan = float("nan")
        return HistoryCost(0, nan, nan, nan)
    results = await asyncio.gather(*(_one(client, workflow_id) for workflow_id in chosen))
    n = len(results)
    kinds: Counter[str] = Counter()
    for actions, _, _ in results:
        kinds.update(actions)
    return HistoryCost(
        sampled=n,
        actions=round(sum(kinds.values()) / n, 2),
        events=round(sum(length for _, length, _ in results) / n, 1),
        bytes=round(sum(size for _, _, size in results) / n),
        actions_by_kind={kind: round(count / n, 2) for kind, count in sorted(kinds.items())},
    )
