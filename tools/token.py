"""``python -m tools.token --sub alice --role customer``: a signed dev token for the API.

Only for the shared-secret dev mode; production tokens come from the identity provider.
The token carries an e-mail claim (``<sub>@example.com`` unless ``--email`` names one),
because the API sends order notices to it when the order's body names none.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import jwt

from config.settings import AuthSettings, load_settings


def mint_token(
    auth: AuthSettings,
    subject: str,
    role: str,
    expires_in: timedelta = timedelta(hours=12),
    email: str | None = None,
) -> str:
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
    return jwt.encode(claims, auth.jwt_secret, algorithm=auth.algorithms[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True, help="the customer or admin id")
    parser.add_argument("--role", choices=["customer", "admin"], default="customer")
    parser.add_argument("--email", help="the e-mail claim (default: <sub>@example.com)")
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args()
    settings = load_settings()
    print(
        mint_token(
            settings.auth,
            args.sub,
            args.role,
            timedelta(hours=args.hours),
            email=args.email or f"{args.sub}@example.com",
        )
    )


if __name__ == "__main__":
    main()
