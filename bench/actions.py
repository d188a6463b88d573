"""Temporal Cloud's billable actions, counted from a workflow's event history.

Per Temporal Cloud's definition ("Temporal Cloud Actions" in Temporal's documentation),
as far as a history shows it:

| history event | actions |
|---|---|
| WorkflowExecutionStarted | 1 (client start, continue-as-new run, child run) |
| ActivityTaskStarted | its ``attempt``: every start and every retry is one |
| TimerStarted | 1 (implicit timers of timeouts included) |
| UpsertWorkflowSearchAttributes | 1 per command; 0 when it sets only ``TemporalChangeVersion`` |
| WorkflowExecutionSignaled | 1 (a signal received) |
| SignalExternalWorkflowExecutionInitiated | 1 (a signal sent) |
| WorkflowExecutionUpdateAccepted | 1 (an update received by the worker) |
| StartChildWorkflowExecutionInitiated | 2 (the start and the child's execution) |
| MarkerRecorded, local activities | 1 per workflow task, however many it ran |
| MarkerRecorded, side effects and other markers | 1 |
| MarkerRecorded, patches (``workflow.patched``) | 0 (versioning) |
| WorkflowExecutionOptionsUpdated | 1 |
| NexusOperationScheduled, NexusOperationCancelRequested | 1 |

Not in a history, so not counted here: queries (a GET of an order still running asks its
saga by query: one action per read), rejected updates, activity heartbeats that reach the
server, resets, schedules and exports. Search attributes given at the start are free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

CHANGE_VERSION = "TemporalChangeVersion"
LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKERS = frozenset({"core_patch", "Version"})

_ONE_EACH = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow started",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer started",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal received",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal sent",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options updated",
    EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus operation",
    EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED: "nexus cancel",
}


def billable_actions(events: Iterable[HistoryEvent]) -> Counter[str]:
    """Actions by kind for one workflow run's history."""
    actions: Counter[str] = Counter()
    local_activity_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind in _ONE_EACH:
            actions[_ONE_EACH[kind]] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attempt = event.activity_task_started_event_attributes.attempt
            actions["activity attempt"] += max(1, attempt)
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) - {CHANGE_VERSION}:
                actions["search attribute upsert"] += 1
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            actions["child workflow"] += 2
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                local_activity_tasks.add(marker.workflow_task_completed_event_id)
            elif marker.marker_name not in PATCH_MARKERS:
                actions["marker"] += 1
    if local_activity_tasks:
        actions["local activities (per workflow task)"] = len(local_activity_tasks)
    return actions
