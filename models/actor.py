"""Who caused an event: a person through the API, an operator through the CLI, or the
system deciding on its own (the saga, the restock workflow).

Part of the event's envelope, not of its payload: the event store keeps it in its own
column and the relay sends it as CloudEvents extension attributes (docs/events.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ActorKind = Literal["user", "operator", "system"]


@dataclass(frozen=True, kw_only=True)
class Actor:
    """``user``: ``subject`` and ``role`` come from a verified token. ``operator``: the
    name an operator declared in a signal's input, which nothing verifies (a workflow cannot
    see who sent a signal). ``system``: a decision of the service itself."""

    kind: ActorKind
    subject: str
    role: str | None = None

    def __post_init__(self) -> None:
        if not self.subject:
            raise ValueError("an actor needs a subject")


SYSTEM: Final = Actor(kind="system", subject="order-saga")
# A CLI cancel whose input names no operator: still an operator's act, of unknown name.
UNNAMED_OPERATOR: Final = Actor(kind="operator", subject="unknown")


def operator(name: str | None) -> Actor:
    """The operator who declared ``name`` in a signal's input."""
    return Actor(kind="operator", subject=name) if name else UNNAMED_OPERATOR
