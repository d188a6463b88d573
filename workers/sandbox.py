"""The workflow sandbox the orders worker runs in: the SDK's guard, paid for once per process.

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

Everything private to the SDK is used here and nowhere else, and only on the SDK version it
was read from (``SDK_VERSIONS``): on another the worker logs it and runs the SDK's own
``SandboxedWorkflowRunner`` with its default restrictions.
"""

from __future__ import annotations

import builtins
import functools
import logging
import threading
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import Any, cast

import temporalio
from temporalio import workflow
from temporalio.converter import SerializationContext, StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._importer import Importer
from temporalio.worker.workflow_sandbox._in_sandbox import InSandbox
from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext
from temporalio.worker.workflow_sandbox._runner import _Instance

__all__ = [
    "SDK_VERSIONS",
    "WORKFLOW_PACKAGES",
    "WORKFLOW_RUNNER",
    "LeanSandboxedWorkflowRunner",
    "workflow_runner",
]

log = logging.getLogger(__name__)

# The SDK versions whose sandbox internals this module was read against.
SDK_VERSIONS = frozenset({"1.35.0"})
# Always imported under the restricting importer, never taken from the host.
WORKFLOW_PACKAGES = frozenset({"workflows"})


@functools.cache
def _compiled(source: str) -> CodeType:
    # The SDK's few fixed snippets (create, activate, context): a handful of entries.
    return compile(source, "<string>", "exec")


class _PerThreadContext(RestrictionContext):
    """The SDK's restriction context, its two flags kept per thread.

    One context serves every run (the shared modules' proxies hold it); a flag set by one
    thread's activation must neither switch the guard on nor off for another thread's.
    """

    def __init__(self) -> None:
        self._flags = threading.local()
        super().__init__()

    @property
    def is_runtime(self) -> bool:
        return bool(getattr(self._flags, "is_runtime", False))

    @is_runtime.setter
    def is_runtime(self, value: bool) -> None:
        self._flags.is_runtime = value

    @property
    def in_activation(self) -> bool:
        return bool(getattr(self._flags, "in_activation", False))

    @in_activation.setter
    def in_activation(self, value: bool) -> None:
        self._flags.in_activation = value


class _GuardingImporter(Importer):
    def _maybe_passthrough_module(self, name: str) -> ModuleType | None:
        # Inside imports_passed_through() the SDK would hand over the host's module, whose
        # globals are the real datetime, uuid and random: no guard at all.
        if name.partition(".")[0] in WORKFLOW_PACKAGES:
            return None
        return super()._maybe_passthrough_module(name)


class _SharedModules:
    """Workflow modules imported once under the restricting importer, for every run."""

    def __init__(self, restrictions: SandboxRestrictions) -> None:
        self.restrictions = restrictions
        self.context = _PerThreadContext()
        self._loader = _GuardingImporter(restrictions, self.context)
        self._loaded: set[str] = set()
        # Workers prepare their workflows on one thread, but a run of a workflow not
        # prepared (the replayer's) may come first from any workflow-task thread.
        self._lock = threading.Lock()

    def importer(self, module_name: str) -> Importer:
        """A run's own importer, its ``sys.modules`` seeded with the shared modules."""
        with self._lock:
            if module_name not in self._loaded:
                self._load(module_name)
                self._loaded.add(module_name)
            modules = dict(self._loader.new_modules)
            checked = set(self._loader.modules_checked_for_restrictions)
        importer = _GuardingImporter(
            self.restrictions, self.context, workflow_module_name=module_name
        )
        # The SDK's own entries (sys, builtins, a fresh __main__) stay the run's.
        importer.new_modules = modules | importer.new_modules
        importer.modules_checked_for_restrictions = checked
        return importer

    def _load(self, module_name: str) -> None:
        # As the SDK imports a workflow's module: under the importer, marked in-sandbox,
        # the context not at runtime (the restrictions that apply only to running code wait).
        with self._loader.applied():
            workflow.unsafe._set_in_sandbox(True)
            try:
                builtins.__import__(module_name)
            finally:
                workflow.unsafe._set_in_sandbox(False)


class _LeanInstance(_Instance):
    def __init__(
        self,
        det: WorkflowInstanceDetails,
        runner_class: type[WorkflowRunner],
        restrictions: SandboxRestrictions,
        shared: _SharedModules,
    ) -> None:
        self._shared = shared
        super().__init__(det, runner_class, restrictions)

    def _create_instance(self) -> None:
        # Replaces the importer the SDK just built, which would import the modules anew.
        self.importer = self._shared.importer(self._workflow_module_name())
        super()._create_instance()

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
    """The SDK's sandboxed runner, its workflow modules imported once, lookups outside it."""

    # Per runner: another runner (dataclasses.replace, the SDK's debug mode) may restrict
    # differently, so it imports its own.
    _shared: _SharedModules = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_shared", _SharedModules(self.restrictions))

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _LeanInstance(det, self.runner_class, self.restrictions, self._shared)


def workflow_runner(sdk_version: str) -> WorkflowRunner:
    """The lean runner on an SDK version it was written for, else the SDK's own."""
    if sdk_version not in SDK_VERSIONS:
        log.warning(
            "temporalio %s is not a version workers/sandbox.py was written for (%s): "
            "the orders worker runs the SDK's own sandboxed runner, default restrictions",
            sdk_version,
            ", ".join(sorted(SDK_VERSIONS)),
        )
        return SandboxedWorkflowRunner()
    return LeanSandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("messages", "models")
    )


WORKFLOW_RUNNER = workflow_runner(temporalio.__version__)
