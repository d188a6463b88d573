"""Configuration that cannot work refuses to start, with an error naming the setting.

Each check reads a Settings object already parsed and raises ValueError (which pydantic
turns into a ValidationError at start-up) naming the ``ORDERS_…`` variable to fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jwt.algorithms import get_default_algorithms

if TYPE_CHECKING:
    from config.settings import AuthSettings, Settings

__all__ = ["refuse_unworkable"]


def refuse_unworkable(settings: Settings) -> None:
    problems = _auth_problems(settings.auth)
    if settings.environment == "production":
        problems += _production_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))


def _auth_problems(auth: AuthSettings) -> list[str]:
    known = set(get_default_algorithms())
    unknown = [name for name in auth.algorithms if name not in known]
    if unknown:
        return [f"ORDERS_AUTH__ALGORITHMS names unknown algorithms {unknown}"]
    if auth.usable_algorithms:
        return []
    if auth.jwks_url:
        return [
            f"ORDERS_AUTH__ALGORITHMS={auth.algorithms} with ORDERS_AUTH__JWKS_URL accepts no "
            "token: public keys verify only asymmetric algorithms (e.g. RS256, ES256)"
        ]
    return [
        f"ORDERS_AUTH__ALGORITHMS={auth.algorithms} with ORDERS_AUTH__JWT_SECRET accepts no "
        "token: a shared secret verifies only HMAC algorithms (e.g. HS256); set "
        "ORDERS_AUTH__JWKS_URL for public keys"
    ]


def _production_problems(settings: Settings) -> list[str]:
    # Imported here: settings imports this module while its class is being built.
    from config.settings import DEV_ISSUER, DEV_JWT_SECRET  # noqa: PLC0415

    auth = settings.auth
    problems: list[str] = []
    if not auth.jwks_url and auth.jwt_secret == DEV_JWT_SECRET:
        problems.append(
            "production needs ORDERS_AUTH__JWKS_URL or a non-default ORDERS_AUTH__JWT_SECRET"
        )
    if not auth.issuer or auth.issuer == DEV_ISSUER:
        problems.append(
            f"production needs ORDERS_AUTH__ISSUER set to the identity provider's issuer "
            f"(not the dev issuer {DEV_ISSUER!r})"
        )
    if not auth.audience or "audience" not in auth.model_fields_set:
        problems.append(
            "production needs ORDERS_AUTH__AUDIENCE set to the audience its identity "
            "provider puts in this service's tokens"
        )
    if not settings.payments.provider_url:
        problems.append(
            "production needs ORDERS_PAYMENTS__PROVIDER_URL: without it each worker process "
            "keeps a payment ledger of its own, and a refund landing on another process "
            "never finds its charge"
        )
    return problems
