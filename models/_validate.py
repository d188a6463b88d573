"""Argument checks shared by the domain's constructors and methods."""

from __future__ import annotations

from models.errors import InvalidValueError


def require_text(value: object, what: str, error: type[InvalidValueError]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise error(f"{what} must not be blank")
    return value


def require_count(
    value: object, what: str, error: type[InvalidValueError], *, minimum: int = 1
) -> int:
    # bool is an int subclass, but True as a quantity is a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise error(f"{what} must be at least {minimum}, got {value}")
    return value
