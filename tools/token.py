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
from datetime import timedelta
from pathlib import Path

from config.settings import load_settings
from devstack.tokens import mint_token

# The API's default role names (config/api.py): least privilege, no role does it all.
ROLES = ["customer", "support", "operator", "catalog-admin"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True, help="the customer's or staff member's id")
    parser.add_argument("--role", choices=ROLES, default="customer")
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
