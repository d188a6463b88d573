"""RFC 9457 problem details: the one shape of every error the API answers with.

Handlers here turn our own :class:`ProblemError`, Starlette's HTTP errors (404 for unknown
routes, 405 with every method the path allows), request validation errors and anything
unexpected into ``application/problem+json``. The catch-all logs the exception and hides it
from the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from persistence.database import is_unavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Problem types are relative URI references, resolved against the API's own address.
PROBLEM_TYPE_PREFIX = "/problems/"

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One failing field of a request."""

    loc: list[str | int] = Field(examples=[["body", "items", 0, "quantity"]])
    pointer: str = Field(
        description="JSON Pointer into the request part named by loc[0].",
        examples=["#/items/0/quantity"],
    )
    detail: str = Field(examples=["Input should be greater than or equal to 1"])
    type: str = Field(examples=["greater_than_equal"])


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem details; extension members may follow."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/unknown-product",
                    "title": "Unknown product",
                    "status": 422,
                    "detail": "No product 'sku-nope' in the catalog.",
                    "instance": "/orders",
                }
            ]
        },
    )

    type: str = Field(default="about:blank", description="URI reference naming the problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = Field(default=None, description="The request path that failed.")
    errors: list[FieldError] | None = Field(
        default=None, description="The failing fields, for validation problems."
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


class ProblemError(Exception):
    """Raised anywhere below a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[FieldError] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.type = PROBLEM_TYPE_PREFIX + slug if slug else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None
        self.extensions = extensions


def field_error(loc: Sequence[str | int], detail: str, type_: str) -> FieldError:
    return FieldError(loc=list(loc), pointer=_pointer(loc), detail=detail, type=type_)


def _pointer(loc: Sequence[str | int]) -> str:
    # loc[0] names the request part (body, query, path, header); the pointer is inside it.
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in loc[1:]]
    return "#/" + "/".join(parts) if parts else "#"


def problem_response(request: Request, problem: ProblemError) -> ProblemResponse:
    body = ProblemDetails(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path,
        errors=problem.errors,
        **problem.extensions,
    )
    return ProblemResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
    )


async def _on_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(request, exc)


# The methods a route can serve (RFC 9110's, CONNECT aside, and PATCH), probed in turn.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path.

    Starlette's router answers 405 from the first route whose path matches and lists only
    that route's methods, while one path is often served by several routes (``GET /orders``
    and ``POST /orders``); RFC 9110 wants them all in ``Allow``. Each method is probed
    against the app's routes as the router itself would match it, so included routers and
    mounts count too.
    """
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


async def _on_http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(allowed_methods(request))
    problem = ProblemError(exc.status_code, detail, headers=headers)
    return problem_response(request, problem)


def invalid_fields(fields: Sequence[FieldError]) -> ProblemError:
    return ProblemError(
        422,
        "The request is not valid; see errors for each failing field.",
        slug="validation",
        title="Validation failed",
        errors=fields,
    )


def validation_problem(errors: Iterable[Mapping[str, Any]]) -> ProblemError:
    # The input itself is never echoed: it may be large or hold a payment token.
    return invalid_fields(
        [
            field_error(
                [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
                str(error.get("msg", "invalid")),
                str(error.get("type", "value_error")),
            )
            for error in errors
        ]
    )


async def _on_validation_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(request, validation_problem(exc.errors()))


# Long enough for a restart of PostgreSQL or a Temporal node to be over, short enough
# for a shop front to retry while the customer waits.
RETRY_AFTER_SECONDS = 5


def dependency_unavailable(what: str) -> ProblemError:
    return ProblemError(
        503,
        f"The {what} is unavailable right now; try again shortly.",
        slug="unavailable",
        title="Service unavailable",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _on_database_error(request: Request, exc: Exception) -> ProblemResponse:
    if not is_unavailable(exc):
        return await _on_unexpected(request, exc)
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(request, dependency_unavailable("database"))


async def _on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = ProblemError(500, "An unexpected error occurred. It has been logged.")
    return problem_response(request, problem)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(sa_exc.DBAPIError, _on_database_error)
    app.add_exception_handler(sa_exc.TimeoutError, _on_database_error)
    app.add_exception_handler(Exception, _on_unexpected)


_DESCRIPTIONS = {
    400: "The request body could not be read (it must be UTF-8 JSON).",
    401: "Missing, expired or invalid access token.",
    403: "The token's role may not do this.",
    404: "No such resource (or not yours).",
    409: "Conflicts with the resource's current state.",
    413: "The request body is too large.",
    422: "The request is not valid.",
    503: "A dependency (database, Temporal) is unavailable; retry later.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem documents for ``statuses``."""
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }


def problem_schemas() -> dict[str, Any]:
    """The component schemas :func:`problem_responses` refers to."""
    schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components["ProblemDetails"] = schema
    return components
