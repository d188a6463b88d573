"""Column types that keep money exact and JSON documents native on every backend."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine
from typing_extensions import override

MONEY_PRECISION = 12
MONEY_SCALE = 2
_CENT = Decimal(1).scaleb(-MONEY_SCALE)
_LIMIT = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)


def to_money(value: Decimal | int | str) -> Decimal:
    """An exact amount with two decimal places (half-up, as PostgreSQL's NUMERIC rounds).

    Floats are refused: they cannot hold most cent amounts exactly.
    """
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"money must be a Decimal (or int/str), not {type(value).__name__}")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    amount = amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    if abs(amount) >= _LIMIT:
        raise ValueError(f"amount {amount} exceeds NUMERIC({MONEY_PRECISION},{MONEY_SCALE})")
    return amount


class Money(TypeDecorator[Decimal]):
    """``NUMERIC(12,2)`` on PostgreSQL; exact decimal text on SQLite.

    SQLite has no decimal type: a NUMERIC column there would turn 0.10 into a float. Text
    keeps every cent; CHECK constraints compare ``CAST(col AS NUMERIC)`` and ordering by a
    money column in SQL is only meaningful on PostgreSQL.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    @override
    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return to_money(value) if isinstance(value, Decimal) else to_money(str(value))

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        amount = to_money(value)
        return f"'{amount}'" if dialect.name == "sqlite" else str(amount)


def json_document() -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")
