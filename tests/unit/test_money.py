"""Money: exact cents in one currency, never a float."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from decimal import Decimal, localcontext

import pytest

from models import CurrencyMismatchError, InvalidMoneyError, Money, sum_money


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("0.125", "0.12"),
        ("0.135", "0.14"),
        ("1.005", "1.00"),
        ("2.675", "2.68"),
        ("10", "10.00"),
        ("-1.255", "-1.26"),
    ],
)
def test_amounts_are_rounded_half_to_even_to_cents(given: str, kept: str) -> None:
    """An amount keeps two decimal places, ties going to the even cent."""
    assert eur(given).amount == Decimal(kept)
    assert str(eur(given).amount) == kept


def test_float_amount_is_refused() -> None:
    """A float has already lost the cents, so Money refuses it outright."""
    with pytest.raises(TypeError, match="Decimal"):
        Money(0.1, "EUR")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of(0.1, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [1, "1.00", True, None])
def test_constructor_takes_only_decimal(amount: object) -> None:
    """The constructor takes Decimal alone; ints and strings go through Money.of."""
    with pytest.raises(TypeError):
        Money(amount, "EUR")  # type: ignore[arg-type]


def test_of_accepts_int_string_and_decimal() -> None:
    """Money.of builds the same value from an int, a decimal string or a Decimal."""
    assert Money.of(3, "EUR") == Money.of("3.00", "EUR") == Money.of(Decimal(3), "EUR")


def test_of_refuses_bool() -> None:
    """True is an int to Python but never an amount."""
    with pytest.raises(TypeError):
        Money.of(True, "EUR")


@pytest.mark.parametrize("text", ["twelve", "", "1,50", "NaN", "Infinity", "-inf"])
def test_non_numeric_or_non_finite_amount_is_refused(text: str) -> None:
    """Only finite decimal numbers are amounts."""
    with pytest.raises(InvalidMoneyError):
        Money.of(text, "EUR")


@pytest.mark.parametrize("currency", ["eur", "Eur", "EURO", "EU", "E1R", "", "ÄUR"])
def test_currency_must_be_three_upper_case_letters(currency: str) -> None:
    """A currency is an upper-case three-letter ISO 4217 code."""
    with pytest.raises(InvalidMoneyError):
        Money.of("1", currency)


def test_currency_must_be_a_string() -> None:
    """A currency of the wrong type is a TypeError, not a bad value."""
    with pytest.raises(TypeError):
        Money(Decimal(1), 978)  # type: ignore[arg-type]


def test_invalid_money_is_a_value_error() -> None:
    """Validation errors are ValueErrors, so pydantic validators report them as such."""
    with pytest.raises(ValueError, match="3-letter"):
        Money.of("1", "euro")


def test_same_currency_amounts_add_and_subtract() -> None:
    """Amounts in one currency add and subtract exactly."""
    assert eur("0.10") + eur("0.20") == eur("0.30")
    assert eur("1.00") - eur("2.50") == eur("-1.50")


def test_money_multiplies_by_a_whole_quantity_from_either_side() -> None:
    """Multiplying by an int prices several units."""
    assert eur("2.15") * 3 == eur("6.45")
    assert 3 * eur("2.15") == eur("6.45")


@pytest.mark.parametrize("factor", [1.5, Decimal("1.5"), True, "2"])
def test_multiplying_by_anything_but_an_int_is_refused(factor: object) -> None:
    """Fractional factors would need a rounding decision Money does not make."""
    with pytest.raises(TypeError):
        eur("1.00") * factor


@pytest.mark.parametrize(
    "combine",
    [operator.add, operator.sub, operator.lt, operator.le, operator.gt, operator.ge],
    ids=["add", "sub", "lt", "le", "gt", "ge"],
)
def test_mixing_currencies_raises(combine: Callable[[Money, Money], object]) -> None:
    """Arithmetic and ordering across currencies are refused, not converted."""
    with pytest.raises(CurrencyMismatchError) as raised:
        combine(eur("1.00"), Money.of("1.00", "USD"))
    assert (raised.value.left, raised.value.right) == ("EUR", "USD")


def test_amounts_in_different_currencies_are_unequal() -> None:
    """Equality across currencies is simply False, so Money stays hashable."""
    assert eur("1.00") != Money.of("1.00", "USD")
    assert len({eur("1.00"), eur("1"), Money.of("1.00", "USD")}) == 2


def test_amounts_order_by_value() -> None:
    """Amounts in one currency compare by value."""
    assert eur("1.00") < eur("1.01") <= eur("1.01") < eur("2")
    assert max(eur("3"), eur("10"), eur("7")) == eur("10")


def test_negation_flips_the_sign() -> None:
    """-money is the same amount owed the other way."""
    assert -eur("2.50") == eur("-2.50")


def test_zero_has_no_sign() -> None:
    """A negative amount that rounds to zero is plain zero."""
    assert str(eur("-0.001")) == "0.00 EUR"
    assert eur("-0.001") == Money.zero("EUR")
    assert Money.zero("EUR").is_zero()


def test_str_shows_amount_then_currency() -> None:
    """The printed form is the two-decimal amount and the code."""
    assert str(eur("12.5")) == "12.50 EUR"
    assert str(Money.of("1000000000000", "JPY")) == "1000000000000.00 JPY"


def test_sum_money_totals_values_and_an_empty_sum_is_zero() -> None:
    """sum_money adds in the named currency, which also types an empty sum."""
    assert sum_money([eur("1.10"), eur("2.20"), eur("3.30")], currency="EUR") == eur("6.60")
    assert sum_money([], currency="USD") == Money.zero("USD")


def test_sum_money_refuses_a_foreign_amount() -> None:
    """One amount in another currency spoils the whole sum."""
    with pytest.raises(CurrencyMismatchError):
        sum_money([eur("1"), Money.of("1", "GBP")], currency="EUR")


def test_money_is_immutable() -> None:
    """Money is a value: it cannot be changed in place."""
    money = eur("1")
    with pytest.raises(FrozenInstanceError):
        money.amount = Decimal(2)  # type: ignore[misc]


def test_arithmetic_ignores_the_ambient_decimal_context() -> None:
    """A caller's decimal precision cannot change an amount, so replays agree."""
    with localcontext() as context:
        context.prec = 2
        total = eur("123.45") + eur("0.01")
        assert total == Money(Decimal("123.46"), "EUR")
        assert eur("1234.567").amount == Decimal("1234.57")
