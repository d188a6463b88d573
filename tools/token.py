"""``python -m tools.token --sub alice --role customer``: a signed dev token for the API.

Plain dev: HS256 with the shared dev secret. Production-like dev (a local issuer from
devstack/jwks_issuer.py): ``--issuer-key <run dir>/issuer/issuer-key.pem`` signs RS256
with that issuer's key, its ``kid`` matching the JWKS the API fetches. Real production
tokens come from the identity provider.
The token carries an e-mail claim (``<sub>@example.com`` unless ``--email`` names one),
because the API sends order notices to it when the order's body names none.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from config.settings import AuthSettings, load_settings
from devstack.jwks_issuer import load_or_create_key, public_jwk, read_identity


def mint_token(
    auth: AuthSettings,
    subject: str,
    role: str,
    expires_in: timedelta = timedelta(hours=12),
    email: str | None = None,
    *,
    issuer_key: Path | None = None,
) -> str:
    """A token for ``subject``; with ``issuer_key`` signed RS256 by that local issuer's
    key, else with the shared secret (``auth.algorithms``' first)."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": subject,
        "roles": [role],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True, help="the customer or admin id")
    parser.add_argument("--role", choices=["customer", "admin"], default="customer")
    parser.add_argument("--email", help="the e-mail claim (default: <sub>@example.com)")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument(
        "--issuer-key",
        type=Path,
        help="sign RS256 with this local issuer's private key (devstack/jwks_issuer.py)",
    )
    args = parser.parse_args()
    settings = load_settings()
    if settings.auth.jwks_url and args.issuer_key is None:
        parser.error(
            "ORDERS_AUTH__JWKS_URL is set: the API only trusts its issuer's keys; pass "
            "--issuer-key <run dir>/issuer/issuer-key.pem"
        )
    email = args.email or f"{args.sub}@example.com"
    print(
        mint_token(
            settings.auth,
            args.sub,
            args.role,
            timedelta(hours=args.hours),
            email=email,
            issuer_key=args.issuer_key,
        )
    )


if __name__ == "__main__":
    main()
