"""The saga's state in one object: what it was started with, which patches it runs under,
where it is, and what visibility and the ``status`` query show.

``OrderSaga`` holds one ``SagaState``; its waits (workflows/saga_waits.py) and compensations
(workflows/compensations.py) take it. Methods here change the state and what visibility
shows of it; they run no activity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from messages.activities import PaymentResult
    from messages.queues import TaskQueues
    from messages.saga import (
        CancelOutcome,
        CancelRequest,
        OrderSagaInput,
        OrderSnapshot,
        PaymentOutcome,
        RetryRequest,
        SagaPolicy,
        SagaStatus,
        Step,
    )
    from messages.search_attributes import NEEDS_ATTENTION_SINCE, ORDER_STATUS
    from models.actor import Actor, operator
    from models.order_status import OrderStatus, is_terminal, is_waiting, transition

# Our workflow code is imported under the sandbox, never passed through: its calls are guarded.
from workflows.patches import (
    AUTHORIZE_CAPTURE_PATCH,
    LEAN_SAGA_PATCH,
    LEAN_SEARCH_ATTRIBUTES_PATCH,
    WAITING_STATES_PATCH,
)
from workflows.saga_steps import CancelRequestedError


@dataclass(frozen=True)
class SagaPatches:
    """The paths a saga's history holds it to, decided once as its run starts.

    Each ``workflow.patched`` records a marker in a new saga's history (and an SDK upsert of
    TemporalChangeVersion), so the questions are asked in the order, and under the
    conditions, every committed history replays: lean-saga first, the older ids only when
    it is absent, authorize-capture only for that flow. The cancellation patch is asked
    apart, only when a request arrives (``outliving_cancellation``).
    """

    # NEEDS_ATTENTION and PAYMENT_PENDING, no refund after a decline, step summaries.
    waiting_states: bool = False
    # OrderStatus upserted only for waiting and final statuses.
    lean: bool = False
    # The last step is conclude_order; before lean-saga, notify_customer.
    concludes: bool = False
    # Authorise at the charge, capture after it.
    two_phase: bool = False

    @staticmethod
    def decide(saga: OrderSagaInput) -> SagaPatches:
        # The lean patch came after the waiting states and implies them: a new saga records
        # one marker. Sagas of the builds from d608859 to 13815ef carry
        # lean-search-attributes instead: lean too, but their last step is notify_customer.
        # Asked only when lean-saga is absent, so a new saga never records it (ids are never
        # renamed: workflows/patches.py).
        concludes = workflow.patched(LEAN_SAGA_PATCH)
        lean = concludes or workflow.patched(LEAN_SEARCH_ATTRIBUTES_PATCH)
        waiting_states = lean or workflow.patched(WAITING_STATES_PATCH)
        two_phase = saga.payment_flow == "authorize_capture" and workflow.patched(
            AUTHORIZE_CAPTURE_PATCH
        )
        return SagaPatches(
            waiting_states=waiting_states, lean=lean, concludes=concludes, two_phase=two_phase
        )


@dataclass
class SagaState:
    order: OrderSnapshot
    queues: TaskQueues
    policy: SagaPolicy
    # What the ``status`` query answers.
    view: SagaStatus
    # All False until the run starts and decides them; nothing reads them before.
    patches: SagaPatches = field(default_factory=SagaPatches)
    step: Step = Step.START
    # The step whose failure (or cancel) the compensations answer: their stated reason.
    failed_step: Step = Step.START
    confirming: bool = False
    compensating: bool = False
    # What visibility shows: the start's OrderStatus, then each upsert (see ``advance``).
    visible_status: OrderStatus = OrderStatus.PENDING
    attention_visible: bool = False
    # False once the provider said no money was taken: the refund step is skipped.
    charge_may_exist: bool = True
    retry: RetryRequest | None = None
    # The provider's reports in arrival order, each event once: (report, succeeded).
    outcomes: list[tuple[PaymentOutcome, bool]] = field(default_factory=list)
    # Who asked for the cancel that won; None: whatever ends the order, the saga decided.
    cancel_actor: Actor | None = None

    @staticmethod
    def start(saga: OrderSagaInput) -> SagaState:
        return SagaState(
            order=saga.order,
            queues=saga.queues,
            policy=saga.policy,
            view=SagaStatus(order_id=saga.order.order_id, status=OrderStatus.PENDING),
        )

    def summary(self, text: str) -> str | None:
        """A step's summary in the UI; sagas before the waiting states recorded none."""
        return text if self.patches.waiting_states else None

    def advance(self, target: OrderStatus, step: str) -> None:
        self.view.status = transition(self.view.status, target)
        self.view.completed_steps.append(step)
        if not self.patches.lean:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(self.view.status)])
        elif self._searchable(target):
            updates: list[SearchAttributeUpdate[Any]] = [ORDER_STATUS.value_set(target)]
            if self.attention_visible and is_terminal(target):
                # Ended by a cancel or the hold-over while parked: no longer waiting.
                updates.append(NEEDS_ATTENTION_SINCE.value_unset())
                self.attention_visible = False
                self.view.needs_attention_since = None
            workflow.upsert_search_attributes(updates)
            self.visible_status = target
        if self.patches.waiting_states:
            workflow.set_current_details(f"**{self.view.status}**, last step: {step}")

    def _searchable(self, target: OrderStatus) -> bool:
        """Worth a visibility write: an operator filters on it, or visibility still shows a
        waiting state the order has left (a paid PAYMENT_PENDING must not stay listed)."""
        return is_waiting(target) or is_terminal(target) or is_waiting(self.visible_status)

    def raise_if_cancel_requested(self) -> None:
        if self.view.cancel_reason is not None:
            raise CancelRequestedError(self.view.cancel_reason)

    def cancel_waiting(self) -> bool:
        return self.view.cancel_reason is not None and not self.compensating

    def cancel_refusal(self) -> str | None:
        if self.compensating:
            # Already being undone: a second cancel changes nothing, so it is not accepted
            # as if it did; the outcome the compensation was started for stands.
            return f"the order is already being compensated (after {self.failed_step})"
        status = self.view.status
        if status == OrderStatus.NEEDS_ATTENTION:
            return None
        if self.confirming or status == OrderStatus.CONFIRMED:
            return "the order is already being confirmed"
        if is_terminal(status):
            return f"the order is already {status}"
        return None

    def request_cancel(self, request: CancelRequest) -> CancelOutcome:
        refusal = self.cancel_refusal()
        if refusal is not None:
            self.view.cancel_refused = refusal
            return CancelOutcome(accepted=False, status=self.view.status, detail=refusal)
        if self.view.cancel_reason is None:
            self.view.cancel_reason = request.reason
            self.cancel_actor = request.actor or operator(request.operator)
        return CancelOutcome(accepted=True, status=self.view.status, detail="cancelling")

    def outcome_of(self, payment: PaymentResult) -> tuple[PaymentOutcome, bool] | None:
        """The first report on the charge the saga waits for. Reports on other charges
        (an ordinary payment's own webhook, another intent naming this order) are not its
        outcome; kept from before the wait, a report that beat the charge's reply counts."""
        reference = payment.gateway_reference
        for outcome, succeeded in self.outcomes:
            if reference is None or outcome.reference == reference:
                return outcome, succeeded
        return None

    def report(self, outcome: PaymentOutcome, *, succeeded: bool) -> None:
        # A webhook delivered twice, or a second report after the first: the first stands.
        if outcome.provider_event_id in self.view.payment_events:
            return
        self.view.payment_events.append(outcome.provider_event_id)
        self.outcomes.append((outcome, succeeded))
