"""The actor of an event travels in the envelope: stored beside the payload and sent as
CloudEvents extension attributes, read back the same by consumers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from confluent_kafka import Message

from models.actor import SYSTEM, UNNAMED_OPERATOR, Actor, operator
from outbox.cloudevents import from_message, to_message
from persistence.event_store import actor_document, actor_of
from persistence.tables import EventRow

OPERATOR = Actor(kind="user", subject="root", role="operator")


def _row(actor: Actor | None) -> EventRow:
    return EventRow(
        event_id=uuid.uuid4(),
        event_type="OrderCancelled",
        aggregate_type="order",
        aggregate_id="order-1",
        event_data={"order_id": "order-1", "reason": "customer called"},
        occurred_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        version=3,
        actor=actor_document(actor) if actor else None,
    )


def _received(row: EventRow) -> Message:
    sent = to_message(row, "order-events", "/order-saga")
    return Message(
        topic=sent.topic,
        partition=0,
        offset=7,
        key=sent.key,
        value=sent.value,
        headers=list[tuple[str, str | bytes | None]](sent.headers),
    )


@pytest.mark.parametrize("actor", [OPERATOR, SYSTEM, operator("ops-anna")])
def test_the_actor_round_trips_through_the_store_and_the_wire(actor: Actor) -> None:
    """Column document -> Actor -> ce_actor* headers -> ReceivedEvent.actor, unchanged."""
    row = _row(actor)
    assert actor_of(row) == actor
    assert from_message(_received(row)).actor == actor


def test_headers_name_kind_subject_and_role_only_when_there_is_one() -> None:
    """ce_actorkind and ce_actor always; ce_actorrole only for an actor with a role."""
    user = dict(to_message(_row(OPERATOR), "order-events", "/o").headers)
    assert (user["ce_actorkind"], user["ce_actor"], user["ce_actorrole"]) == (
        b"user",
        b"root",
        b"operator",
    )
    system = dict(to_message(_row(SYSTEM), "order-events", "/o").headers)
    assert "ce_actorrole" not in system
    assert system["ce_actorkind"] == b"system"


def test_an_event_recorded_before_actors_has_none_and_no_headers() -> None:
    """Rows from before the actor column say nothing rather than guess."""
    row = _row(None)
    headers = dict(to_message(row, "order-events", "/o").headers)
    assert not {"ce_actor", "ce_actorkind", "ce_actorrole"} & set(headers)
    assert from_message(_received(row)).actor is None


def test_a_signal_without_an_operator_is_an_unnamed_operator() -> None:
    """The CLI may leave ``operator`` out: still an operator's act, of unknown name."""
    assert operator(None) == UNNAMED_OPERATOR
    assert operator("") == UNNAMED_OPERATOR
    assert operator("ops-anna") == Actor(kind="operator", subject="ops-anna")


def test_an_actor_needs_a_subject() -> None:
    with pytest.raises(ValueError, match="subject"):
        Actor(kind="user", subject="")
