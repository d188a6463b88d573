"""The workflow sandbox the orders worker runs in: the SDK's, entered only to run workflow code.

The SDK enters a workflow's sandbox (an ``exec`` of a source string, compiled anew each
time, under an import hook that swaps ``sys.modules`` and the builtins) for every
activation, which is what guards determinism, and also for every payload sequence it
encodes or decodes: up to seven times per sequence, only to ask the workflow's instance
which serialization context (workflow or activity) and which external-storage target a
payload belongs to. Profiled, those entries were the largest share of the orders worker's
CPU. Those two questions are lookups the SDK's own instance answers from its bookkeeping
(``_pending_activities``, its ``Info``); no workflow code runs and nothing is imported,
so answering them outside the import hook changes nothing the sandbox guards. Activations
still run inside it, every restriction in force; their source is compiled once per
process instead of once per activation (the same code object ``exec`` would build).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import CodeType
from typing import Any, cast

from temporalio.converter import SerializationContext, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._in_sandbox import InSandbox
from temporalio.worker.workflow_sandbox._runner import _Instance

__all__ = ["WORKFLOW_RUNNER", "LeanSandboxedWorkflowRunner"]


@functools.cache
def _compiled(source: str) -> CodeType:
    # The SDK's few fixed snippets (create, activate, context): a handful of entries.
    return compile(source, "<string>", "exec")


class _LeanInstance(_Instance):
    def _run_code(self, code: str, **extra_globals: Any) -> None:
        # exec takes the code object as it takes the source it was compiled from.
        super()._run_code(cast(str, _compiled(code)), **extra_globals)

    @property
    def _in_sandbox(self) -> InSandbox:
        return cast(InSandbox, self.globals_and_locals["__temporal_in_sandbox"])

    def get_serialization_context(
        self, command_info: CommandInfo | None
    ) -> SerializationContext | None:
        return self._in_sandbox.get_serialization_context(command_info)

    def get_external_store_context(
        self, command_info: CommandInfo | None
    ) -> StorageDriverStoreContext:
        return self._in_sandbox.get_external_store_context(command_info)


@dataclass(frozen=True)
class LeanSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner, with the payload lookups answered outside the sandbox."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _LeanInstance(det, self.runner_class, self.restrictions)


# The sandbox re-imports a workflow's module for every run it starts; profiled, that was a
# large share of the orders worker's CPU. Our workflow packages are pure and hold no state
# at module level (tests/unit checks the domain's imports; replay tests check determinism),
# so they are imported once and shared; the sandbox's other restrictions stay in force.
WORKFLOW_RUNNER = LeanSandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "workflows", "messages", "models"
    )
)
