"""Schedules that once broke the saga, each kept as it was found (shrunk, or written down
from the issue that reported it), with the ending it must reach now.

Each runs in ``test_regressions.py`` through the explorer's runner: the invariants hold
and the saga ends as written. Add the minimal schedule of every new finding here.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.order_status import OrderStatus
from tests.explorer.schedules import Act, Attempt, Hook, RefundPlan, Schedule, Scripted

__all__ = ["REGRESSIONS", "Regression"]

# Enough retryable failures to spend the explorer's charge budget: the order parks.
_OUTAGE = (Attempt.FAIL,) * 5
# Enough to spend the park record's one-minute budget (BEST_EFFORT) and then some.
_RECORDS_DOWN = (Attempt.OK, *(Attempt.FAIL,) * 12)


@dataclass(frozen=True)
class Regression:
    schedule: Schedule
    ends: OrderStatus
    # An act whose answer must be a refusal (the trace shows the update failed).
    refused: Act | None = None


def _at(activity: str, call: int, act: Act, *, after: bool = False) -> Scripted:
    return Scripted(Hook(activity, call, after=after), act)


REGRESSIONS: dict[str, Regression] = {
    # The Web UI's Request Cancellation while the charge ran parked the order with the
    # money captured (the request was taken for an infrastructure failure).
    "temporal cancel while charging": Regression(
        Schedule(acts=(_at("charge_payment", 0, Act.TEMPORAL_CANCEL),)),
        ends=OrderStatus.CANCELLED,
    ),
    # ... and while a cancel compensated, the workflow closed CANCELED at once: refund done
    # at the provider, stock still reserved, read model PAID, customer never told.
    "temporal cancel while compensating": Regression(
        Schedule(
            acts=(
                _at("charge_payment", 0, Act.CANCEL, after=True),
                _at("refund_payment", 0, Act.TEMPORAL_CANCEL, after=True),
            )
        ),
        ends=OrderStatus.CANCELLED,
    ),
    "temporal cancel once confirmation has begun": Regression(
        Schedule(acts=(_at("conclude_order", 0, Act.TEMPORAL_CANCEL),)),
        ends=OrderStatus.CONFIRMED,
    ),
    "temporal cancel of a parked order": Regression(
        Schedule(
            attempts=(("charge_payment", _OUTAGE),),
            acts=(_at("record_order_status", 0, Act.TEMPORAL_CANCEL),),
        ),
        ends=OrderStatus.CANCELLED,
    ),
    "temporal cancel while the customer pays": Regression(
        Schedule(card="action", acts=(_at("charge_payment", 0, Act.TEMPORAL_CANCEL, after=True),)),
        ends=OrderStatus.CANCELLED,
    ),
    # An operator's retry while the notifications pool was down for over a minute: the
    # retry's status record gave up, the row stayed NEEDS_ATTENTION, the retried charge was
    # refused for it, the order parked again and the hold-over compensated it.
    "a retry whose status record fails": Regression(
        Schedule(
            attempts=(
                ("charge_payment", (Attempt.BROKEN,)),
                ("record_order_status", _RECORDS_DOWN),
            ),
            acts=(_at("record_order_status", 0, Act.RETRY, after=True),),
        ),
        ends=OrderStatus.CONFIRMED,
    ),
    # A retry sent while the park is still being recorded is the operator's decision too.
    "a retry while the park is being recorded": Regression(
        Schedule(
            attempts=(("charge_payment", (Attempt.BROKEN,)),),
            acts=(_at("record_order_status", 0, Act.RETRY_UPDATE),),
        ),
        ends=OrderStatus.CONFIRMED,
    ),
    # A cancel update during the compensation was answered "accepted" and did nothing.
    "a cancel update while compensating": Regression(
        Schedule(
            acts=(
                _at("charge_payment", 0, Act.CANCEL, after=True),
                _at("refund_payment", 0, Act.CANCEL_UPDATE),
            )
        ),
        ends=OrderStatus.CANCELLED,
        refused=Act.CANCEL_UPDATE,
    ),
    # A retry while a parked order compensated (after an operator's cancel): "accepted".
    "a retry while a parked order compensates": Regression(
        Schedule(
            attempts=(("charge_payment", _OUTAGE),),
            acts=(
                _at("record_order_status", 0, Act.CANCEL, after=True),
                _at("refund_payment", 0, Act.RETRY_UPDATE),
            ),
        ),
        ends=OrderStatus.CANCELLED,
        refused=Act.RETRY_UPDATE,
    ),
    # An order parked at the charge and given up on ended PAYMENT_FAILED with no terminal
    # event: no PaymentFailed had been recorded, since the provider never declined.
    "payment given up on after its hold": Regression(
        Schedule(attempts=(("charge_payment", _OUTAGE),)),
        ends=OrderStatus.PAYMENT_FAILED,
    ),
    "the customer never acts": Regression(Schedule(card="action"), ends=OrderStatus.PAYMENT_FAILED),
    # A reservation attempt the saga gave up on (its budget spent) committed after the
    # release compensation had found nothing to give back: a REJECTED order kept the units.
    "a reservation that lands after its release": Regression(
        Schedule(
            attempts=(("reserve_inventory", (Attempt.LATE, *(Attempt.FAIL,) * 6)),),
            acts=(_at("conclude_order", 0, Act.LAND),),
        ),
        ends=OrderStatus.REJECTED,
    ),
    # A charge attempt the saga gave up on landed after the refund compensation had found
    # nothing to undo (the park's record had failed, so the row still said RESERVED).
    "a charge that lands after its compensation": Regression(
        Schedule(
            attempts=(
                ("charge_payment", (Attempt.LATE, *(Attempt.FAIL,) * 6)),
                ("record_order_status", (Attempt.FAIL,) * 12),
            ),
            acts=(_at("release_inventory", 0, Act.LAND),),
        ),
        ends=OrderStatus.PAYMENT_FAILED,
    ),
    # A refund asked to stop by Temporal closed CANCELED between the money and the goods.
    "temporal cancel of a refund": Regression(
        Schedule(refund=RefundPlan(units=1, temporal_cancel=True)), ends=OrderStatus.REFUNDED
    ),
    # A refund whose step failed in a way it did not plan for, after the money went back,
    # failed the workflow: stock never returned, customer never told.
    "a refund step that breaks after the money": Regression(
        Schedule(
            refund=RefundPlan(units=1),
            attempts=(("refund_order_payment", (Attempt.LOST, Attempt.BROKEN)),),
        ),
        ends=OrderStatus.REFUNDED,
    ),
    # Found at about 15,300 schedules of a `make explore` run: the money step breaks, is
    # retried, commits with its reply lost, breaks again; the refund still finishes once
    # an operator retries it again (the runner had given up on it too early).
    "a refund step that breaks twice around its money": Regression(
        Schedule(
            refund=RefundPlan(units=1),
            attempts=(("refund_order_payment", (Attempt.BROKEN, Attempt.LOST, Attempt.BROKEN)),),
        ),
        ends=OrderStatus.REFUNDED,
    ),
}
