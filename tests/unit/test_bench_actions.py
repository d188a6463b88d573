"""Temporal Cloud's billable actions, counted from event histories the way Temporal bills."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.actions import billable_actions


def event(kind: EventType.ValueType) -> HistoryEvent:
    return HistoryEvent(event_type=kind)


def activity_started(attempt: int) -> HistoryEvent:
    started = event(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    started.activity_task_started_event_attributes.attempt = attempt
    return started


def upsert(*names: str) -> HistoryEvent:
    upserted = event(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    fields = upserted.upsert_workflow_search_attributes_event_attributes.search_attributes
    for name in names:
        fields.indexed_fields[name].data = b'"x"'
    return upserted


def marker(name: str, workflow_task: int) -> HistoryEvent:
    recorded = event(EventType.EVENT_TYPE_MARKER_RECORDED)
    recorded.marker_recorded_event_attributes.marker_name = name
    recorded.marker_recorded_event_attributes.workflow_task_completed_event_id = workflow_task
    return recorded


def test_a_three_activity_saga_costs_its_start_and_one_action_per_activity() -> None:
    """Workflow tasks, scheduling and completion events are free; start and activities are not."""
    history = [
        event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
        event(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
        event(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED),
        event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    ]
    for _ in range(3):
        history += [
            event(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            activity_started(1),
            event(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
        ]
    history.append(event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED))
    actions = billable_actions(history)
    assert actions == {"workflow started": 1, "activity attempt": 3}
    assert actions.total() == 4


def test_every_retry_of_an_activity_is_an_action() -> None:
    """The history keeps one started event per activity, carrying the attempt it ended on."""
    assert billable_actions([activity_started(4)]) == {"activity attempt": 4}


def test_search_attribute_upserts_count_per_command_and_versioning_is_free() -> None:
    """Two attributes in one upsert are one action; an upsert of TemporalChangeVersion alone
    (what workflow.patched may write) is none."""
    history = [upsert("OrderStatus", "CustomerId"), upsert("OrderStatus")]
    actions = billable_actions([*history, upsert("TemporalChangeVersion")])
    assert actions == {"search attribute upsert": 2}


def test_local_activities_of_one_workflow_task_are_one_action_and_patches_are_free() -> None:
    actions = billable_actions(
        [
            marker("core_local_activity", 4),
            marker("core_local_activity", 4),
            marker("core_local_activity", 9),
            marker("core_patch", 4),
        ]
    )
    assert actions == {"local activities (per workflow task)": 2}


def test_signals_updates_timers_and_children_are_billed() -> None:
    actions = billable_actions(
        [
            event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
            event(EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED),
            event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
            event(EventType.EVENT_TYPE_TIMER_STARTED),
            event(EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
        ]
    )
    assert actions.total() == 6
    assert actions["child workflow"] == 2
