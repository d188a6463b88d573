"""Money: a Decimal amount in cents with its currency, never a float."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from models.errors import CurrencyMismatchError, InvalidMoneyError

__all__ = ["Money", "sum_money"]

_CENT = Decimal("0.01")
# An explicit context instead of the ambient one: decimal.getcontext() is thread-local
# and mutable, and workflow replay must compute the same amounts whatever set it.
_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)


def _check_currency(currency: object) -> str:
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
        raise InvalidMoneyError(f"currency must be a 3-letter ISO 4217 code, got {currency!r}")
    if not currency.isupper():
        raise InvalidMoneyError(f"currency code must be upper case, got {currency!r}")
    return currency


@dataclass(frozen=True)
class Money:
    """An amount rounded half-to-even to two decimal places, in one currency.

    Adding, subtracting or ordering amounts of two currencies raises
    CurrencyMismatchError; equality does not, so Money stays hashable and comparable
    with ``==`` (different currencies are simply unequal).
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        # Decimal only: a float has already lost the cents, and int/str have Money.of.
        if not isinstance(self.amount, Decimal):
            raise TypeError(
                f"Money amount must be a Decimal, not {type(self.amount).__name__}; "
                "use Money.of() for int or str"
            )
        if not self.amount.is_finite():
            raise InvalidMoneyError(f"amount must be finite, got {self.amount}")
        _check_currency(self.currency)
        amount = self.amount.quantize(_CENT, context=_CONTEXT)
        if amount.is_zero():
            # -0.00 would print as "-0.00"; a zero has no sign.
            amount = abs(amount)
        object.__setattr__(self, "amount", amount)

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Money from a Decimal, an int or a decimal string such as ``"12.50"``."""
        if isinstance(amount, bool) or not isinstance(amount, Decimal | int | str):
            raise TypeError(f"Money.of takes Decimal, int or str, not {type(amount).__name__}")
        if isinstance(amount, str):
            try:
                return cls(Decimal(amount), currency)
            except InvalidOperation:
                raise InvalidMoneyError(f"not a decimal amount: {amount!r}") from None
        return cls(Decimal(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def is_zero(self) -> bool:
        return self.amount.is_zero()

    def is_positive(self) -> bool:
        return self.amount > 0

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency, other.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(_CONTEXT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return Money(_CONTEXT.subtract(self.amount, other.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        # Whole quantities only: a fractional factor would need a rounding decision of its own.
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Money(_CONTEXT.multiply(self.amount, Decimal(factor)), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other)
        return self.amount >= other.amount

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


def sum_money(values: Iterable[Money], *, currency: str) -> Money:
    """The total of ``values``; the currency is named so an empty sum has one too."""
    total = Money.zero(currency)
    for value in values:
        total += value
    return total
