"""Every patch id a workflow has ever recorded: what it gates, and the histories that keep it.

``workflow.patched(id)`` writes a marker with ``id`` into a new saga's history; replaying
that history needs code that checks the same id at the same point. A renamed or removed
id fails every saga that carries it with nondeterminism, which is what renaming
``lean-search-attributes`` to ``lean-saga`` did. So an id stays checked while a history
with it may exist, and each live id has a committed history under
``tests/workflows/histories/`` that CI replays (``tests/workflows/test_patches.py``).
The policy in full: docs/patches.md.

Pure (the workflow sandbox imports it): ids and plain data, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUTHORIZE_CAPTURE_PATCH",
    "CONCLUDE_ORDER_PATCH",
    "LEAN_SAGA_PATCH",
    "LEAN_SEARCH_ATTRIBUTES_PATCH",
    "REFUND_FINISHES_PATCH",
    "REGISTRY",
    "TEMPORAL_CANCEL_PATCH",
    "WAITING_STATES_PATCH",
    "Patch",
]

# Histories recorded before each gate replay the old path (no marker, patched() is False).
AUTHORIZE_CAPTURE_PATCH = "authorize-capture-flow"
WAITING_STATES_PATCH = "waiting-states"
# Visibility gets only what operators filter on: the waiting and terminal statuses (the
# start sets PENDING, CustomerId and OrderTotal). RESERVED and PAID last seconds and live
# in the ``status`` query and the current details; each upsert was a visibility write and
# a billable action. A parked order that ends by cancel or hold-over clears
# NeedsAttentionSince with its terminal status.
LEAN_SEARCH_ATTRIBUTES_PATCH = "lean-search-attributes"
# The same, and the last step is ``conclude_order`` (the step ``notify_customer`` was, named
# for what it does: record the outcome, then send the notice). One id for the release, so
# a new saga records one marker.
LEAN_SAGA_PATCH = "lean-saga"
# A Temporal cancellation request is an order cancel (compensate, end CANCELLED, or be
# refused once confirmation has begun). Checked only when a request arrives, so only
# sagas that met one carry the marker; before it, the request cancelled the step in flight.
TEMPORAL_CANCEL_PATCH = "temporal-cancel-is-order-cancel"
# RefundWorkflow: once money is on its way back the refund finishes: a cancellation request
# no longer cuts it short, and a step that fails in a way it did not plan for waits for an
# operator's retry instead of failing the workflow. Checked lazily, like the saga's.
REFUND_FINISHES_PATCH = "refund-always-finishes"
# Never checked on main: kept so the id is not reused with another meaning.
CONCLUDE_ORDER_PATCH = "conclude-order"


@dataclass(frozen=True)
class Patch:
    id: str
    workflow: str
    gates: str
    # The commit that introduced the id, and the one that brought it to main.
    introduced: str
    # Whether a saga started on today's code records the marker.
    new_sagas_record: bool
    # Files under tests/workflows/histories/ that carry the marker and replay.
    histories: tuple[str, ...]
    # Why no code checks the id any more; None while the id is live.
    retired: str | None = None


REGISTRY: tuple[Patch, ...] = (
    Patch(
        id=AUTHORIZE_CAPTURE_PATCH,
        workflow="OrderSaga",
        gates="authorise at the charge, capture after it (payment_flow authorize_capture); "
        "sagas started before it charge in one step",
        introduced="c840d2c (foundation)",
        new_sagas_record=True,
        histories=("authorize_capture.json",),
    ),
    Patch(
        id=WAITING_STATES_PATCH,
        workflow="OrderSaga",
        gates="NEEDS_ATTENTION and PAYMENT_PENDING, no refund after a decline, step summaries",
        introduced="fc39ed7, on main with 7c47c56 (merge 'sagastates')",
        new_sagas_record=False,
        histories=(
            "needs_attention_retried.json",
            "payment_failed_no_refund.json",
            "payment_pending_confirmed.json",
        ),
    ),
    Patch(
        id=LEAN_SEARCH_ATTRIBUTES_PATCH,
        workflow="OrderSaga",
        gates="the waiting states, OrderStatus upserted only for waiting and final statuses, "
        "NeedsAttentionSince cleared when a parked order ends; the last step still "
        "notify_customer",
        introduced="ae7d5c3 and d608859, on main with 5a6a707 (merge 'contract') until 13815ef",
        new_sagas_record=False,
        histories=(
            "lean_search_attributes_confirmed.json",
            "lean_search_attributes_needs_attention_cancelled.json",
            "lean_search_attributes_needs_attention_retried.json",
            "lean_search_attributes_payment_pending_confirmed.json",
        ),
    ),
    Patch(
        id=LEAN_SAGA_PATCH,
        workflow="OrderSaga",
        gates="everything lean-search-attributes gates, and the last step named conclude_order",
        introduced="13815ef (merge 'repo')",
        new_sagas_record=True,
        histories=(
            "lean_confirmed.json",
            "lean_needs_attention_cancelled.json",
            "lean_needs_attention_retried.json",
            "lean_payment_pending_confirmed.json",
            "lean_temporal_cancel_while_charging.json",
        ),
    ),
    Patch(
        id=TEMPORAL_CANCEL_PATCH,
        workflow="OrderSaga",
        gates="a Temporal cancellation request is an order cancel: compensate and end "
        "CANCELLED before confirmation, refused after, never cutting a compensation short; "
        "checked only when a request arrives",
        introduced="the invariants work (issue 19)",
        new_sagas_record=True,
        histories=("lean_temporal_cancel_while_charging.json",),
    ),
    Patch(
        id=REFUND_FINISHES_PATCH,
        workflow="RefundWorkflow",
        gates="a refund finishes: a cancellation request is ignored, and a step that fails "
        "in a way it did not plan for waits for an operator's retry; checked only then",
        introduced="the invariants work (issue 19)",
        new_sagas_record=True,
        histories=("refund/refund_cancel_requested.json",),
    ),
    Patch(
        id=CONCLUDE_ORDER_PATCH,
        workflow="OrderSaga",
        gates="the last step named conclude_order",
        introduced="a02d74f, on branch 'repo' only",
        new_sagas_record=False,
        histories=(),
        retired="never on main: folded into lean-saga by the merge 13815ef, which also "
        "dropped its one history (a02d74f:tests/workflows/histories/conclude_order_confirmed"
        ".json); restore both if a build of branch 'repo' ever ran sagas",
    ),
)
