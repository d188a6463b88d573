"""A schedule: one order's world and what happens to it, as plain data a failure can print.

A schedule says how the provider and the stock answer, how each activity's attempts go,
and which outside acts (an operator's cancel or retry, a Temporal cancellation request,
the provider's webhooks, the customer) happen at which point. Points are activity calls:
"before (or after) the n-th call of ``charge_payment`` does its work", because that is
where a race with a step in flight is decided, and because the saga's timers (the park's
hold, the customer's timeout, retry backoffs) are skipped the moment the saga waits on
nothing else: an operator who does not act at a point has let the time run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hypothesis import strategies as st

__all__ = [
    "Act",
    "Attempt",
    "Hook",
    "RefundPlan",
    "Schedule",
    "Scripted",
    "schedules",
]


class Attempt(StrEnum):
    OK = "ok"
    # A retryable failure before the work: nothing happened.
    FAIL = "fail"
    # The work committed, then the reply was lost (a retryable failure after the effect).
    LOST = "lost"
    # A non-retryable failure the saga did not plan for (a bug, a refused request).
    BROKEN = "broken"
    # Nothing happened yet; the work lands later, at a ``LAND`` act (an attempt the saga
    # gave up on that still commits), or never.
    LATE = "late"


class Act(StrEnum):
    CANCEL = "cancel"  # the signal, as the CLI sends it
    CANCEL_UPDATE = "cancel-update"  # the update, as the API sends it
    RETRY = "retry"  # the signal
    RETRY_UPDATE = "retry-update"
    TEMPORAL_CANCEL = "temporal-cancel"  # the Web UI's Request Cancellation
    CUSTOMER_PAYS = "customer-pays"  # the provider completes the intent, webhook sent
    CUSTOMER_FAILS = "customer-fails"  # an attempt fails (intent stays open), webhook sent
    CUSTOMER_PAYS_SILENTLY = "customer-pays-silently"  # completed, webhook held back
    DELIVER_HELD = "deliver-held"  # the held-back webhooks arrive now
    DUPLICATE_WEBHOOK = "duplicate-webhook"  # the last webhook again
    FOREIGN_WEBHOOK = "foreign-webhook"  # a report about another charge naming this order
    LAND = "land"  # attempts that went LATE commit now


@dataclass(frozen=True)
class Hook:
    activity: str
    # The n-th call of that activity for the order (0: the first attempt of the first use).
    call: int
    after: bool = False

    def __str__(self) -> str:
        return f"{'after' if self.after else 'before'} {self.activity}#{self.call}"


@dataclass(frozen=True)
class Scripted:
    at: Hook
    act: Act

    def __str__(self) -> str:
        return f"{self.act} {self.at}"


@dataclass(frozen=True)
class RefundPlan:
    """An operator's after-sale refund of a CONFIRMED order."""

    units: int  # how many of the order's units (all: the whole order)
    # Started a second time once the first has ended (a retried request).
    again: bool = False
    temporal_cancel: bool = False


@dataclass(frozen=True)
class Schedule:
    units: int = 1
    short_of_stock: bool = False
    # How the card answers: captured, declined, or the customer must act first.
    card: str = "ok"  # "ok" | "declined" | "action"
    authorize_capture: bool = False
    attempts: tuple[tuple[str, tuple[Attempt, ...]], ...] = ()
    acts: tuple[Scripted, ...] = ()
    # Run on the worker that keeps no workflow in cache: every task replays the history.
    replay: bool = False
    refund: RefundPlan | None = None

    def script(self, activity: str) -> tuple[Attempt, ...]:
        return dict(self.attempts).get(activity, ())

    def acts_at(self, hook: Hook) -> list[Act]:
        return [scripted.act for scripted in self.acts if scripted.at == hook]

    def __str__(self) -> str:
        parts = [f"units={self.units}", f"card={self.card}"]
        if self.short_of_stock:
            parts.append("short")
        if self.authorize_capture:
            parts.append("authorize-capture")
        if self.replay:
            parts.append("replay")
        parts += [f"{name}:{'/'.join(a.value for a in script)}" for name, script in self.attempts]
        parts += [str(scripted) for scripted in self.acts]
        if self.refund is not None:
            parts.append(f"refund={self.refund}")
        return "Schedule(" + ", ".join(parts) + ")"


# The activities an order's saga may call, and how often one is worth scripting.
_SCRIPTABLE = (
    "reserve_inventory",
    "charge_payment",
    "capture_payment",
    "record_payment_outcome",
    "refund_payment",
    "release_inventory",
    "conclude_order",
    "record_order_status",
)
_REFUND_SCRIPTABLE = ("refund_order_payment", "return_stock", "notify_customer")
# Compensations and the conclusion must complete: a non-retryable failure there is a bug
# the saga parks on, so it is scripted rarely; LATE makes no sense where nothing gives up.
_MUST_COMPLETE = ("refund_payment", "release_inventory", "conclude_order")

_attempt = st.sampled_from(list(Attempt))


@st.composite
def _script(draw: st.DrawFn, activity: str) -> tuple[Attempt, ...]:
    kinds = [Attempt.OK, Attempt.FAIL, Attempt.LOST, Attempt.BROKEN, Attempt.LATE]
    if activity in _MUST_COMPLETE or activity in _REFUND_SCRIPTABLE:
        kinds = [Attempt.OK, Attempt.FAIL, Attempt.LOST, Attempt.BROKEN]
    # Long runs of failures spend a step's budget (the saga parks on it).
    return tuple(draw(st.lists(st.sampled_from(kinds), max_size=6)))


_hook = st.builds(
    Hook,
    activity=st.sampled_from(_SCRIPTABLE),
    call=st.integers(min_value=0, max_value=4),
    after=st.booleans(),
)
_refund_hook = st.builds(
    Hook,
    activity=st.sampled_from(_REFUND_SCRIPTABLE),
    call=st.integers(min_value=0, max_value=2),
    after=st.booleans(),
)


_CUSTOMER = (Act.CUSTOMER_PAYS, Act.CUSTOMER_FAILS, Act.CUSTOMER_PAYS_SILENTLY)
# The customer acts while the provider holds the charge: before the charge's reply reaches
# the saga (its wait for the customer is skipped to its end the moment it starts).
_while_charging = st.builds(
    Hook, activity=st.just("charge_payment"), call=st.integers(0, 2), after=st.just(True)
)


@st.composite
def _scripted(draw: st.DrawFn) -> Scripted:
    act = draw(st.sampled_from(list(Act)))
    if act in _CUSTOMER and draw(st.integers(0, 3)):
        return Scripted(at=draw(_while_charging), act=act)
    return Scripted(at=draw(_hook | _refund_hook), act=act)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    """Any order's world: every answer, every failure, every act at any point."""
    card = draw(st.sampled_from(["ok", "ok", "declined", "action"]))
    scripted = draw(st.lists(st.sampled_from(_SCRIPTABLE), max_size=4, unique=True))
    attempts = tuple((name, draw(_script(name))) for name in scripted)
    refund = draw(
        st.none()
        | st.builds(
            RefundPlan,
            units=st.integers(min_value=1, max_value=3),
            again=st.booleans(),
            temporal_cancel=st.booleans(),
        )
    )
    if refund is not None:
        names = draw(st.lists(st.sampled_from(_REFUND_SCRIPTABLE), max_size=2, unique=True))
        attempts += tuple((name, draw(_script(name))) for name in names)
    acts = draw(st.lists(_scripted(), max_size=5))
    return Schedule(
        units=draw(st.integers(min_value=1, max_value=3)),
        short_of_stock=draw(st.integers(min_value=0, max_value=4)) == 0,
        card=card,
        authorize_capture=draw(st.booleans()),
        attempts=attempts,
        acts=tuple(acts),
        # One saga in three runs on the worker that replays every task from its history.
        replay=draw(st.integers(min_value=0, max_value=2)) == 0,
        refund=refund,
    )
