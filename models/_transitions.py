"""A status transition table, shared by the order, payment and notification lifecycles."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from models.errors import IllegalTransitionError

S = TypeVar("S", bound=StrEnum)


class TransitionTable(Generic[S]):
    """Which statuses each status may move to; a status with none is terminal.

    Targets are tuples, not sets: set order depends on string hashing, which differs
    between processes, and anything iterated inside a workflow must replay identically.
    """

    def __init__(self, entity: str, statuses: type[S], table: Mapping[S, tuple[S, ...]]) -> None:
        # Fails at import when a status is added to the enum but not to the table.
        missing = [status for status in statuses if status not in table]
        if missing:
            raise ValueError(f"{entity} transition table lacks {missing}")
        self.entity = entity
        self._table = dict(table)

    def allowed(self, current: S) -> tuple[S, ...]:
        return self._table[current]

    def sources(self, target: S) -> tuple[S, ...]:
        """The statuses that may move to ``target``, in the table's order."""
        return tuple(status for status, targets in self._table.items() if target in targets)

    def is_terminal(self, current: S) -> bool:
        return not self._table[current]

    def check(self, current: S, target: S) -> S:
        if target not in self._table[current]:
            raise IllegalTransitionError(self.entity, current, target)
        return target
