"""Writes built once: a template whose values are bind parameters, and the values.

A template's statement object is made once per parameter prefix (``functools.cache``), so
SQLAlchemy neither rebuilds it nor recomputes its cache key on each call: the compiled
form is found at once. The prefix lets one template appear several times in a batch
(``persistence.batch``) under distinct parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Insert, Update, bindparam
from sqlalchemy.types import TypeEngine

__all__ = ["Bound", "Template", "Write", "bind_name", "param"]

Write = Insert | Update
# Builds the write with its bind parameters named ``prefix + name``.
Template = Callable[[str], Write]


@dataclass(frozen=True)
class Bound:
    """A write from ``template``, with the values of its bind parameters (unprefixed)."""

    template: Template
    values: Mapping[str, object]

    def parameters(self, prefix: str) -> dict[str, object]:
        """The values under the names the template built for ``prefix`` gave them."""
        return {bind_name(prefix, name): value for name, value in self.values.items()}


def param(prefix: str, name: str, type_: TypeEngine[Any] | None = None) -> BindParameter[Any]:
    """The bind parameter ``name`` of a template built for ``prefix``."""
    return bindparam(bind_name(prefix, name), type_=type_)


def bind_name(prefix: str, name: str) -> str:
    # Never a column's own name: SQLAlchemy keeps those for the VALUES and SET clauses.
    return f"{prefix}v_{name}"
