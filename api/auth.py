"""OAuth2 bearer tokens, checked as a resource server: signature, ``exp``, ``aud``, ``iss``.

Keys come from the identity provider's JWKS when ``auth.jwks_url`` is set (production),
else from the shared dev secret. Roles come from where Keycloak puts them (the realm's
``realm_access.roles`` and the API client's ``resource_access.<client>.roles``) and from
the top-level ``roles`` claim of the local issuer. Least privilege: ``customer`` acts on its
own orders; ``support`` reads every order; ``operator`` also retries, cancels and refunds
and decodes payloads; ``catalog-admin`` manages products and stock. No role does it all.
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
    description="An access token (JWT). Roles are read from `realm_access.roles`, "
    "`resource_access.<client>.roles` and `roles`: `customer`, `support`, `operator`, "
    "`catalog-admin`.",
)


@dataclass(frozen=True)
class RoleNames:
    """The role names this deployment's identity provider issues (``ORDERS_AUTH__*_ROLE``)."""

    customer: str = "customer"
    support: str = "support"
    operator: str = "operator"
    catalog_admin: str = "catalog-admin"

    @classmethod
    def of(cls, auth: AuthSettings) -> RoleNames:
        return cls(
            customer=auth.customer_role,
            support=auth.support_role,
            operator=auth.operator_role,
            catalog_admin=auth.catalog_admin_role,
        )


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    email: str | None
    names: RoleNames = RoleNames()

    def has(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_customer(self) -> bool:
        return self.has(self.names.customer)

    @property
    def is_operator(self) -> bool:
        return self.has(self.names.operator)

    @property
    def is_catalog_admin(self) -> bool:
        return self.has(self.names.catalog_admin)

    @property
    def reads_every_order(self) -> bool:
        return self.is_operator or self.has(self.names.support)

    def may_see(self, customer_id: str | None) -> bool:
        """Read an order (its timeline too): support and operators any, a customer its own."""
        return self.reads_every_order or self.owns(customer_id)

    def may_change(self, customer_id: str | None) -> bool:
        """Cancel an order: operators any, a customer its own."""
        return self.is_operator or self.owns(customer_id)

    def owns(self, customer_id: str | None) -> bool:
        return self.is_customer and customer_id is not None and customer_id == self.subject

    def acting_as(self, role: str) -> Actor:
        """Who this caller is in the events it causes, in the role it acted in."""
        return Actor(kind="user", subject=self.subject, role=role if self.has(role) else None)

    def actor_on(self, customer_id: str | None) -> Actor:
        """The actor of a change to ``customer_id``'s order: its customer, else an operator."""
        if self.owns(customer_id) or not self.is_operator:
            return self.acting_as(self.names.customer)
        return self.acting_as(self.names.operator)


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
    """Verifies access tokens; built once per app (the JWKS client caches the key set)."""

    def __init__(self, auth: AuthSettings) -> None:
        self._auth = auth
        # The key set is kept 5 minutes, and each token's key is looked up in it: a key the
        # identity provider removes (a compromised one) stops verifying within that time.
        # (PyJWT's per-key cache would keep a removed key until the process restarts.) An
        # unknown kid refetches the set, at most once per 30 s (PyJWT's cooldown).
        self._jwks = (
            jwt.PyJWKClient(auth.jwks_url, cache_keys=False, lifespan=300, timeout=5)
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
        try:
            roles = roles_of(claims, self._auth.client_id or self._auth.audience)
        except TypeError as exc:
            raise unauthorized(str(exc)) from exc
        email = claims.get("email")
        return Principal(
            subject=subject,
            roles=roles,
            email=email if isinstance(email, str) and email else None,
            names=RoleNames.of(self._auth),
        )


def roles_of(claims: dict[str, Any], client_id: str) -> frozenset[str]:
    """The token's roles: Keycloak's realm roles, the API client's roles, and the top-level
    ``roles`` of the local issuer. Another client's roles are not the API's (Keycloak puts
    every client the user has roles in under ``resource_access``)."""
    lists: list[object] = [claims.get("roles", [])]
    realm = claims.get("realm_access")
    if realm is not None:
        if not isinstance(realm, dict):
            raise TypeError("The token's realm_access claim must be an object")
        lists.append(realm.get("roles", []))
    resources = claims.get("resource_access")
    if resources is not None:
        if not isinstance(resources, dict):
            raise TypeError("The token's resource_access claim must be an object")
        client = resources.get(client_id)
        if client is not None:
            if not isinstance(client, dict):
                raise TypeError("The token's resource_access entry must be an object")
            lists.append(client.get("roles", []))
    roles: set[str] = set()
    for found in lists:
        if not isinstance(found, list):
            raise TypeError("The token's roles must be a list")
        roles.update(role for role in found if isinstance(role, str))
    return frozenset(roles)


def require_any(principal: Principal, *roles: str) -> Principal:
    """Go on when the caller holds one of ``roles``, else 403."""
    if any(principal.has(role) for role in roles):
        return principal
    named = " or ".join(f"'{role}'" for role in roles)
    raise forbidden(f"This needs the {named} role.")
