"""Unknown query parameters are an error (422), not silently ignored.

A client that sends ``?limt=5`` or ``?state=PAID`` would otherwise get an answer that looks
right and is not what it asked for. The check runs for every route (an app-wide
dependency) against the query parameters the route and its dependencies declare, which are
also exactly the ones the OpenAPI document lists.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.problems import field_error, invalid_fields


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    return frozenset(_query_names(route.dependant))


async def reject_unknown_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query_parameters(route)
    unknown = sorted({name for name in request.query_params if name not in declared})
    if unknown:
        raise invalid_fields(
            [
                field_error(["query", name], "Unknown query parameter.", "extra_forbidden")
                for name in unknown
            ]
        )
