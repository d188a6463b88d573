"""The one module that touches the Temporal SDK's private API; nothing else in the product or
its tests does.

Two uses, treated apart:

- Reading what a decorator registered (an activity's name and types, a signal's name). The
  SDK has no public reader; the decorators store a private definition on the function.
  These are read on every SDK version, as the contract needs them to exist at all; a
  version that changes them fails at import and in tests/unit/test_activity_contract.py.
- The lean workflow runner (why it exists: workers/sandbox.py). It subclasses the SDK's
  sandbox internals, so it is built only on an SDK version it was read against
  (``SDK_VERSIONS``): on another, or when Settings turn it off, the worker gets the SDK's
  own ``SandboxedWorkflowRunner``, which guards determinism the same way (each run imports
  the workflow modules anew), and a log line says so.

It sits in messages/ because the activity contract (messages/contract.py), the lowest layer
that needs a private read, is here. The runner's private imports happen inside
``workflow_runner``, after the version check: importing messages stays light (the API and
the workflow sandbox import it, and neither needs ``temporalio.worker``), and an SDK of
another version never has its internals imported at all.
"""

# The SDK's worker modules are imported inside the functions that need them, after the
# version check (see above): that is this module's purpose, not an oversight.
# ruff: noqa: PLC0415

from __future__ import annotations

import builtins
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any, cast

import temporalio
from temporalio import activity, workflow

if TYPE_CHECKING:
    from temporalio.worker import WorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

__all__ = [
    "SDK_VERSION",
    "SDK_VERSIONS",
    "WORKFLOW_PACKAGES",
    "ActivityDefinition",
    "activity_definition",
    "lean_runner_type",
    "signal_name",
    "workflow_runner",
]

log = logging.getLogger(__name__)

SDK_VERSION: str = temporalio.__version__
# The SDK versions whose sandbox internals the lean runner was read against.
SDK_VERSIONS = frozenset({"1.35.0"})
# Always imported under the restricting importer, never taken from the host.
WORKFLOW_PACKAGES = frozenset({"workflows"})
# Pure data: every run may share the host's modules (a public option of the SDK's runner).
PASSED_THROUGH = ("messages", "models")


@dataclass(frozen=True)
class ActivityDefinition:
    name: str | None
    arg_types: list[type] | None
    ret_type: type | None


def activity_definition(fn: Callable[..., Any]) -> ActivityDefinition | None:
    """What ``@activity.defn`` registered on ``fn`` (a function or bound method), or None."""
    found = activity._Definition.from_callable(fn)
    if found is None:
        return None
    return ActivityDefinition(name=found.name, arg_types=found.arg_types, ret_type=found.ret_type)


def signal_name(handler: Callable[..., Any] | str) -> str:
    """The registered name of a ``@workflow.signal`` handler (a name is returned as is)."""
    return workflow._SignalDefinition.must_name_from_fn_or_str(handler)


def workflow_runner(*, lean: bool = True, sdk_version: str = SDK_VERSION) -> WorkflowRunner:
    """The lean runner when asked for and the SDK is a version it was read against, else the
    SDK's own sandboxed runner with the same restrictions, and a log line saying why."""
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    if not lean:
        log.info("the lean workflow runner is off by Settings: the SDK's own sandboxed runner")
        return SandboxedWorkflowRunner(restrictions=restrictions)
    if sdk_version not in SDK_VERSIONS:
        log.warning(
            "temporalio %s is not a version the lean workflow runner was read against (%s): "
            "the orders worker runs the SDK's own sandboxed runner",
            sdk_version,
            ", ".join(sorted(SDK_VERSIONS)),
        )
        return SandboxedWorkflowRunner(restrictions=restrictions)
    return lean_runner_type()(restrictions=restrictions)


@functools.cache
def _compiled(source: str) -> CodeType:
    # The SDK's few fixed snippets (create, activate, context): a handful of entries.
    return compile(source, "<string>", "exec")


@functools.cache
def lean_runner_type() -> type[SandboxedWorkflowRunner]:
    """The lean runner's class, built on first use from the SDK's sandbox internals.

    Call only on an SDK of ``SDK_VERSIONS`` (``workflow_runner`` checks).
    """
    from temporalio.converter import SerializationContext, StorageDriverStoreContext
    from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
    from temporalio.worker._command_aware_visitor import CommandInfo
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox._importer import Importer
    from temporalio.worker.workflow_sandbox._in_sandbox import InSandbox
    from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext
    from temporalio.worker.workflow_sandbox._runner import _Instance

    class PerThreadContext(RestrictionContext):
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

    class GuardingImporter(Importer):
        def _maybe_passthrough_module(self, name: str) -> ModuleType | None:
            # Inside imports_passed_through() the SDK would hand over the host's module, whose
            # globals are the real datetime, uuid and random: no guard at all.
            if name.partition(".")[0] in WORKFLOW_PACKAGES:
                return None
            return super()._maybe_passthrough_module(name)

    class SharedModules:
        """Workflow modules imported once under the restricting importer, for every run."""

        def __init__(self, restrictions: SandboxRestrictions) -> None:
            self.restrictions = restrictions
            self.context = PerThreadContext()
            self._loader = GuardingImporter(restrictions, self.context)
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
            importer = GuardingImporter(
                self.restrictions, self.context, workflow_module_name=module_name
            )
            # The SDK's own entries (sys, builtins, a fresh __main__) stay the run's.
            importer.new_modules = modules | importer.new_modules
            importer.modules_checked_for_restrictions = checked
            return importer

        def _load(self, module_name: str) -> None:
            # As the SDK imports a workflow's module: under the importer, marked in-sandbox,
            # the context not at runtime (restrictions that apply only to running code wait).
            with self._loader.applied():
                workflow.unsafe._set_in_sandbox(True)
                try:
                    builtins.__import__(module_name)
                finally:
                    workflow.unsafe._set_in_sandbox(False)

    class LeanInstance(_Instance):
        def __init__(
            self, det: WorkflowInstanceDetails, runner: LeanSandboxedWorkflowRunner
        ) -> None:
            self._shared: SharedModules = runner._shared
            super().__init__(det, runner.runner_class, runner.restrictions)

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

        # The payload lookups the SDK would enter the sandbox for: its own bookkeeping
        # answers them without running workflow code.
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
        """The SDK's sandboxed runner, its workflow modules imported once, lookups outside."""

        # Per runner: another runner (dataclasses.replace, the SDK's debug mode) may restrict
        # differently, so it imports its own.
        _shared: SharedModules = field(init=False, repr=False, compare=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "_shared", SharedModules(self.restrictions))

        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            return LeanInstance(det, self)

    return LeanSandboxedWorkflowRunner
