"""OAuth2 bearer tokens, checked as a resource server: signature, ``exp``, ``aud``, ``iss``.

Keys come from the identity provider's JWKS when ``auth.jwks_url`` is set (production),
else from the shared dev secret. Roles come from the ``roles`` claim: ``customer`` acts on
its own orders, the admin role on everything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi.security import HTTPBearer

from api.problems import ProblemError
from config.settings import AuthSettings
from models.actor import Actor

REALM = "order-saga"
# Tolerated clock difference between the identity provider and this service.
LEEWAY_SECONDS = 30
MAX_SUBJECT_LENGTH = 128  # orders.customer_id

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="An access token (JWT) with the `customer` or admin role in `roles`.",
)


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    email: str | None
    admin_role: str
    customer_role: str

    @property
    def is_admin(self) -> bool:
        return self.admin_role in self.roles

    def may_see(self, customer_id: str | None) -> bool:
        return self.is_admin or (customer_id is not None and customer_id == self.subject)

    @property
    def actor(self) -> Actor:
        """Who this caller is in the events it causes: the role it acted in."""
        role = self.admin_role if self.is_admin else None
        if role is None and self.customer_role in self.roles:
            role = self.customer_role
        return Actor(kind="user", subject=self.subject, role=role)


def unauthorized(description: str | None) -> ProblemError:
    # RFC 6750 §3.1: a request without credentials gets no error code, only the challenge.
    challenge = f'Bearer realm="{REALM}"'
    if description is not None:
        challenge += f', error="invalid_token", error_description="{description}"'
    return ProblemError(
        401,
        description or "An access token is required.",
        slug="unauthorized",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden(detail: str) -> ProblemError:
    return ProblemError(
        403,
        detail,
        slug="forbidden",
        headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="insufficient_scope"'},
    )


_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired"),
    (jwt.InvalidAudienceError, "The token is not meant for this service"),
    (jwt.InvalidIssuerError, "The token comes from an untrusted issuer"),
    (jwt.InvalidSignatureError, "The token signature does not verify"),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim"),
    (jwt.ImmatureSignatureError, "The token is not valid yet"),
)


class TokenVerifier:
    """Verifies access tokens; built once per app (the JWKS client caches keys)."""

    def __init__(self, auth: AuthSettings) -> None:
        self._auth = auth
        self._jwks = (
            jwt.PyJWKClient(auth.jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if auth.jwks_url
            else None
        )
        self._algorithms = auth.usable_algorithms

    async def _key(self, token: str) -> Any:
        if self._jwks is None:
            return self._auth.jwt_secret
        try:
            # PyJWKClient fetches over blocking HTTP (cached afterwards): keep it off the loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise ProblemError(
                503, "The identity provider's keys cannot be fetched.", slug="unavailable"
            ) from exc
        except jwt.PyJWTError as exc:
            raise unauthorized("The token is not signed by a known key") from exc
        return signing_key.key

    async def verify(self, token: str) -> Principal:
        key = await self._key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self._auth.audience,
                issuer=self._auth.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), None)
            raise unauthorized(reason or "The token is malformed") from exc
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
            raise unauthorized("The token's subject is not usable")
        raw_roles = claims.get("roles", [])
        if not isinstance(raw_roles, list):
            raise unauthorized("The token's roles claim must be a list")
        email = claims.get("email")
        return Principal(
            subject=subject,
            roles=frozenset(role for role in raw_roles if isinstance(role, str)),
            email=email if isinstance(email, str) and email else None,
            admin_role=self._auth.admin_role,
            customer_role=self._auth.customer_role,
        )


def require_customer(principal: Principal) -> Principal:
    if principal.is_admin or principal.customer_role in principal.roles:
        return principal
    raise forbidden(f"This needs the '{principal.customer_role}' or '{principal.admin_role}' role.")


def require_admin(principal: Principal) -> Principal:
    if principal.is_admin:
        return principal
    raise forbidden(f"This needs the '{principal.admin_role}' role.")
