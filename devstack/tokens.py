"""Dev tokens for the API: signed with the shared dev secret, or RS256 by the local
issuer's key (devstack/jwks_issuer.py) so that its JWKS verifies them.

Beside the issuer, below every command that needs a token: ``python -m tools.token`` prints
one, devstack/production.py hands two to the developer, bench/ and faults/ send orders with
them. Real production tokens come from the identity provider.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from config.api import AuthSettings
from devstack.jwks_issuer import load_or_create_key, public_jwk, read_identity


def mint_token(
    auth: AuthSettings,
    subject: str,
    role: str | list[str],
    expires_in: timedelta = timedelta(hours=12),
    email: str | None = None,
    *,
    issuer_key: Path | None = None,
) -> str:
    """A token for ``subject``; with ``issuer_key`` signed RS256 by that local issuer's
    key, else with the shared secret (``auth.algorithms``' first). ``role`` may be several,
    for a person who holds more than one; they go in the top-level ``roles`` claim."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject,
        "roles": [role] if isinstance(role, str) else list(role),
        "aud": auth.audience,
        "iss": auth.issuer,
        "iat": now,
        "exp": now + expires_in,
    }
    if email:
        claims["email"] = email
    if issuer_key is not None:
        if not issuer_key.exists():
            raise FileNotFoundError(f"no issuer key at {issuer_key}")
        # The local issuer's own identity, when it recorded one, names iss and aud.
        claims.update(_identity_claims(issuer_key))
        key = load_or_create_key(issuer_key)
        headers = {"kid": public_jwk(key)["kid"]}
        return jwt.encode(claims, key, algorithm="RS256", headers=headers)
    return jwt.encode(claims, auth.jwt_secret, algorithm=auth.algorithms[0])


def _identity_claims(issuer_key: Path) -> dict[str, object]:
    identity = read_identity(issuer_key)
    if identity is None:
        return {}
    return {"iss": identity["issuer"], "aud": identity["audience"]}
