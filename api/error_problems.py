"""The edge's map from the services' application errors to HTTP problem documents.

A service raises an :class:`~api.errors.ServiceError` saying what went wrong; this module
alone decides its status, problem type, title and headers. The error's sentence is the
problem's ``detail``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request

from api import errors
from api.auth import forbidden
from api.problems import (
    RETRY_AFTER_SECONDS,
    ProblemError,
    ProblemResponse,
    dependency_unavailable,
    field_error,
    invalid_fields,
    problem_response,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Shape:
    status: int
    slug: str
    title: str | None = None


# The errors whose problem is only a status, a type and maybe a title.
_SHAPES: dict[type[errors.ServiceError], _Shape] = {
    errors.OrderNotFoundError: _Shape(404, "order-not-found"),
    errors.ProductNotFoundError: _Shape(404, "product-not-found"),
    errors.NotCancellableError: _Shape(409, "cancel-refused"),
    errors.NotRetryableError: _Shape(409, "retry-refused"),
    errors.RefundRefusedError: _Shape(409, "refund-refused"),
    errors.ProductExistsError: _Shape(409, "product-exists"),
    errors.StockContentionError: _Shape(409, "stock-contention"),
    errors.RefundLinesError: _Shape(422, "refund-lines-invalid"),
    errors.EmailRequiredError: _Shape(422, "email-required"),
    errors.KeyReusedError: _Shape(422, "idempotency-key-reused"),
    errors.InvalidCursorError: _Shape(422, "invalid-cursor"),
    errors.MixedCurrenciesError: _Shape(422, "mixed-currencies", "Mixed currencies"),
    errors.TotalTooLargeError: _Shape(422, "total-too-large", "Order total too large"),
    errors.StockTooLargeError: _Shape(422, "stock-too-large"),
    errors.MaintenanceForcedError: _Shape(409, "maintenance-forced"),
}


@functools.singledispatch
def problem_for(error: errors.ServiceError) -> ProblemError:
    """The problem document the API answers ``error`` with."""
    shape = _SHAPES.get(type(error))
    if shape is None:
        # An error without its mapping is a bug (a unit test looks for one): answer as
        # for any unexpected error.
        log.error("no problem mapped for %s", type(error).__name__, exc_info=error)
        return ProblemError(500, "An unexpected error occurred. It has been logged.")
    return ProblemError(shape.status, str(error), slug=shape.slug, title=shape.title)


@problem_for.register
def _key_in_flight(error: errors.KeyInFlightError) -> ProblemError:
    return ProblemError(
        409,
        str(error),
        slug="idempotency-key-in-flight",
        headers={"Retry-After": str(error.retry_after)},
    )


@problem_for.register
def _maintenance(error: errors.MaintenanceOnError) -> ProblemError:
    return ProblemError(
        503,
        str(error),
        slug="maintenance",
        title="Not taking new orders",
        headers={"Retry-After": str(error.retry_after)},
    )


@problem_for.register
def _invalid_fields(error: errors.InvalidFieldsError) -> ProblemError:
    return invalid_fields([field_error(f.loc, f.detail, f.type) for f in error.fields])


@problem_for.register
def _unknown_products(error: errors.UnknownProductsError) -> ProblemError:
    return ProblemError(
        422,
        str(error),
        slug="unknown-product",
        title="Unknown product",
        errors=[
            field_error(
                ["body", "items", index, "product_id"],
                f"no product {product_id!r} in the catalog",
                "unknown_product",
            )
            for index, product_id in error.items.items()
        ],
        products=error.products,
    )


@problem_for.register
def _not_permitted(error: errors.NotPermittedError) -> ProblemError:
    return forbidden(str(error))


@problem_for.register
def _unavailable(error: errors.DependencyUnavailableError) -> ProblemError:
    return dependency_unavailable(error.what)


@problem_for.register
def _not_ready(error: errors.NotReadyError) -> ProblemError:
    return ProblemError(
        503,
        str(error),
        slug="not-ready",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        checks=error.checks,
    )


async def _on_service_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, errors.ServiceError)
    return problem_response(request, problem_for(exc))


def install_error_mapping(app: FastAPI) -> None:
    app.add_exception_handler(errors.ServiceError, _on_service_error)
