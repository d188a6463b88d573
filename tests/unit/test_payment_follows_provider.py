"""A payment follows what the provider did to its charge (a capture, refund or void there)."""

from __future__ import annotations

import pytest

from models import PaymentProcessed, PaymentRefunded, PaymentStatus, PaymentVoided
from tests.unit.test_payment import payment_in

P = PaymentStatus


def test_a_capture_at_the_provider_captures_an_authorised_payment() -> None:
    payment = payment_in(P.AUTHORIZED)

    events = payment.follow(P.CAPTURED)

    assert payment.status is P.CAPTURED
    assert [type(event) for event in events] == [PaymentProcessed]


def test_a_void_at_the_provider_voids_the_payment() -> None:
    payment = payment_in(P.AUTHORIZED)

    events = payment.follow(P.VOIDED)

    assert payment.status is P.VOIDED
    assert [type(event) for event in events] == [PaymentVoided]


@pytest.mark.parametrize("status", [P.PENDING, P.AUTHORIZED])
def test_money_given_back_before_it_was_recorded_taken_says_both(status: PaymentStatus) -> None:
    """The customer completed the payment while it was abandoned, or a capture's record
    was lost: the timeline shows the money taken, then given back."""
    payment = payment_in(status)

    events = payment.follow(P.REFUNDED)

    assert payment.status is P.REFUNDED
    assert [type(event) for event in events] == [PaymentProcessed, PaymentRefunded]


@pytest.mark.parametrize("status", [P.CAPTURED, P.REFUNDED, P.VOIDED])
def test_following_the_status_it_already_has_changes_nothing(status: PaymentStatus) -> None:
    payment = payment_in(status)

    assert payment.follow(status) == []
    assert payment.status is status


@pytest.mark.parametrize("target", [P.AUTHORIZED, P.FAILED])
def test_a_provider_status_that_is_no_move_of_ours_changes_nothing(target: PaymentStatus) -> None:
    """Only a capture, refund or void at the provider is followed: an authorisation or a
    failure is recorded where the charge or the provider's report is."""
    payment = payment_in(P.PENDING)

    assert payment.follow(target) == []
    assert payment.status is P.PENDING
