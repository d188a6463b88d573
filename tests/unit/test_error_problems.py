"""The services' application errors reach HTTP clients as the problem documents they did
before the services stopped speaking HTTP: same status, type, title, detail and headers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api import errors
from api.error_problems import problem_for
from api.problems import ProblemError


def _every_error() -> list[errors.ServiceError]:
    return [
        errors.OrderNotFoundError("o-1"),
        errors.NotCancellableError("o-1", "it is already finished"),
        errors.NotRetryableError("o-1", "the order is PENDING, not waiting for a retry"),
        errors.RefundRefusedError("o-1", "it is PAID, not CONFIRMED"),
        errors.RefundLinesError("o-1", "sku-a", 1, 2),
        errors.EmailRequiredError(),
        errors.KeyReusedError("k"),
        errors.KeyInFlightError(7),
        errors.InvalidCursorError(),
        errors.NotPermittedError("Customers can only list their own orders."),
        errors.InvalidFieldsError([errors.InvalidField(("body", "items"), "too many", "too_long")]),
        errors.UnknownProductsError({0: "sku-x"}),
        errors.MixedCurrenciesError(["EUR", "USD"]),
        errors.TotalTooLargeError(Decimal("9999999999.99"), "EUR"),
        errors.ProductNotFoundError("sku-a"),
        errors.ProductExistsError("sku-a"),
        errors.StockContentionError("sku-a"),
        errors.StockTooLargeError("sku-a", 1000),
        errors.DependencyUnavailableError("workflow service"),
        errors.NotReadyError({"database": "ok", "temporal": "down"}),
        errors.MaintenanceOnError("database upgrade", 600),
        errors.MaintenanceForcedError("ORDERS_API__MAINTENANCE"),
    ]


def _subclasses(cls: type[errors.ServiceError]) -> set[type[errors.ServiceError]]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_service_error_has_a_problem_of_its_own() -> None:
    """A new error without a mapping would answer 500; the list above must name it too."""
    listed = {type(error) for error in _every_error()}
    assert _subclasses(errors.ServiceError) == listed
    for error in _every_error():
        problem = problem_for(error)
        assert problem.status != 500, type(error).__name__
        assert problem.type.startswith("/problems/"), type(error).__name__


@pytest.mark.parametrize(
    ("error", "status", "type_", "detail"),
    [
        (errors.OrderNotFoundError("o-1"), 404, "/problems/order-not-found", "No order o-1."),
        (
            errors.NotCancellableError("o-1", "it is already finished"),
            409,
            "/problems/cancel-refused",
            "Order o-1 cannot be cancelled: it is already finished.",
        ),
        (
            errors.NotRetryableError("o-1", "the order is PENDING, not waiting for a retry"),
            409,
            "/problems/retry-refused",
            "Order o-1 cannot be retried: the order is PENDING, not waiting for a retry.",
        ),
        (
            errors.RefundLinesError("o-1", "sku-a", 1, 2),
            422,
            "/problems/refund-lines-invalid",
            "Order o-1 has 1 of sku-a; 2 cannot be returned.",
        ),
        (
            errors.MixedCurrenciesError(["EUR", "USD"]),
            422,
            "/problems/mixed-currencies",
            "All items of an order must share one currency; these are in ['EUR', 'USD'].",
        ),
        (
            errors.StockTooLargeError("sku-a", 1000),
            422,
            "/problems/stock-too-large",
            "Stock of 'sku-a' would exceed 1000.",
        ),
    ],
)
def test_a_refusal_keeps_its_status_type_and_words(
    error: errors.ServiceError, status: int, type_: str, detail: str
) -> None:
    problem = problem_for(error)
    assert (problem.status, problem.type, problem.detail) == (status, type_, detail)


def test_a_key_in_flight_says_when_to_come_back() -> None:
    problem = problem_for(errors.KeyInFlightError(7))
    assert (problem.status, problem.headers) == (409, {"Retry-After": "7"})


def test_unknown_products_name_each_failing_item_and_the_products() -> None:
    problem = problem_for(errors.UnknownProductsError({0: "sku-b", 2: "sku-a", 3: "sku-b"}))
    assert problem.detail == "Unknown product: sku-a, sku-b."
    assert problem.title == "Unknown product"
    assert problem.extensions == {"products": ["sku-a", "sku-b"]}
    assert [(e.pointer, e.type) for e in problem.errors or []] == [
        ("#/items/0/product_id", "unknown_product"),
        ("#/items/2/product_id", "unknown_product"),
        ("#/items/3/product_id", "unknown_product"),
    ]


def test_unavailable_and_not_ready_ask_to_retry_after_five_seconds() -> None:
    unavailable = problem_for(errors.DependencyUnavailableError("workflow service"))
    not_ready = problem_for(errors.NotReadyError({"database": "ok", "temporal": "down"}))
    assert unavailable.type == "/problems/unavailable"
    assert not_ready.detail == "Not ready: temporal"
    assert not_ready.extensions == {"checks": {"database": "ok", "temporal": "down"}}
    for problem in (unavailable, not_ready):
        assert (problem.status, problem.headers) == (503, {"Retry-After": "5"})


def test_a_customer_asking_for_others_orders_is_forbidden_with_the_bearer_challenge() -> None:
    problem = problem_for(errors.NotPermittedError("Customers can only list their own orders."))
    assert isinstance(problem, ProblemError)
    assert (problem.status, problem.type) == (403, "/problems/forbidden")
    assert "insufficient_scope" in problem.headers["WWW-Authenticate"]


def test_paused_orders_say_why_and_when_to_come_back() -> None:
    problem = problem_for(errors.MaintenanceOnError("database upgrade", 600))
    assert (problem.status, problem.type, problem.title) == (
        503,
        "/problems/maintenance",
        "Not taking new orders",
    )
    assert problem.detail == "New orders are paused for maintenance: database upgrade"
    assert problem.headers == {"Retry-After": "600"}


def test_a_switch_held_by_the_deployment_names_its_setting() -> None:
    problem = problem_for(errors.MaintenanceForcedError("ORDERS_API__MAINTENANCE"))
    assert (problem.status, problem.type) == (409, "/problems/maintenance-forced")
    assert "ORDERS_API__MAINTENANCE=true" in (problem.detail or "")
