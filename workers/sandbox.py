"""The workflow runner the orders worker runs: the SDK's guard, paid for once per process.

The SDK's sandbox guards determinism by importing a workflow's modules under a restricting
importer: ``datetime``, ``uuid``, ``random``… reach them as proxies that refuse
``datetime.now()``, ``uuid.uuid4()``, ``random.random()`` while the workflow runs (the
workflow task fails with ``RestrictedWorkflowAccessError``). It does that import anew for
every workflow run, which doubles the orders worker's CPU per order; passing ``workflows``
through instead (the host's modules, shared) was cheap but turned the guard off for the
saga's own code. Here the workflow packages are imported under the restricting importer
once per runner and those sandboxed module objects are shared by every run, so the saga's
code holds the same proxies the SDK would give it. Two things make that sound:

- the proxies ask a restriction context whether a workflow is running; shared by every
  run, and activations run on several threads at once, that context keeps its flags per
  thread (a workflow task sets them on its own thread only);
- a module of ``workflows`` is never taken from the host, even when imported inside
  ``workflow.unsafe.imports_passed_through()``.

Each run still gets its own importer (its own ``sys.modules`` seeded with the shared
modules), so what a run imports later stays its own, as with the SDK. Module-level state
in ``workflows`` would be shared between runs: the workflow modules hold none (replay
tests check determinism; tests/unit checks the domain's imports). ``messages`` and
``models``, pure data, are passed through.

Two more savings, unchanged: the SDK entered the sandbox for every payload sequence only
to ask the instance which serialization context and storage target a payload belongs to,
lookups its own bookkeeping answers (``_pending_activities``, its ``Info``) without running
workflow code, so they are answered outside the import hook; and the SDK's fixed snippets
are compiled once per process instead of once per activation.

What the guard costs, measured with ``python -m bench.worker_cost`` against 8815a8a (the
modules passed through) in alternating rounds on one stack: the orders worker spends about
0.4-0.55 ms more per order (+3 %, median of 11 paired rounds; single rounds -1.2 to +2.2);
importing the workflow modules for every run instead costs +16.9 ms per order (2.05x).
Figures per round: bench/results/worker-cost.md.

The lean runner is built in messages/sdk_private.py, the one module that touches the SDK's
private API, and only on the SDK versions it was read against; on another, or with
``ORDERS_WORKERS__LEAN_WORKFLOW_RUNNER=false``, the worker runs the SDK's own
``SandboxedWorkflowRunner`` (same restrictions, the same guard, the import paid per run).
"""

from __future__ import annotations

from temporalio.worker import WorkflowRunner

from messages.sdk_private import workflow_runner

__all__ = ["WORKFLOW_RUNNER", "runner_for"]

# The lean runner where the SDK allows it: the tests' and the replayer's, and the orders
# worker's unless Settings turn it off. One for the process: each imports the workflows once.
WORKFLOW_RUNNER = workflow_runner()


def runner_for(*, lean: bool) -> WorkflowRunner:
    """The orders worker's runner, as Settings choose it (``workers.lean_workflow_runner``)."""
    return WORKFLOW_RUNNER if lean else workflow_runner(lean=False)
