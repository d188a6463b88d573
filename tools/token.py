"""``python -m tools.token``: a bearer token for the API, printed alone on stdout so that
``export OPERATOR_TOKEN=$(python -m tools.token …)`` takes it.

A real access token from the identity provider (Keycloak), from its realm's issuer URL
(``--issuer``, default ``ORDERS_AUTH__ISSUER``; the token endpoint is
``<issuer>/protocol/openid-connect/token``):

- ``--user olga``: a person's, by the password grant of the CLI client (``--client``,
  default order-saga-cli). The password comes from ``KEYCLOAK_PASSWORD`` if set, else a
  prompt on the terminal.
- ``--client-credentials order-saga-automation``: a service client's own, for scripts. The
  secret comes from ``KEYCLOAK_CLIENT_SECRET`` if set, else a prompt.

The realm decides the subject, roles and e-mail, and the token lives minutes (five in the
demo realm): ask again when the API answers 401. A refused grant (a wrong password, a
disabled user) or an unreachable issuer is said on stderr, with exit status 1.

Without ``--user`` or ``--client-credentials``, a dev token is minted
(``--sub alice --role customer``): HS256 with the shared dev secret, or, for the local
issuer of the benchmark and the fault runs (devstack/jwks_issuer.py),
``--issuer-key <run dir>/issuer/issuer-key.pem`` signs RS256 with that issuer's key, its
``kid`` matching the JWKS the API fetches. A dev token carries an e-mail claim
(``<sub>@example.com`` unless ``--email`` names one), because the API sends order notices
to it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from config.settings import load_settings
from devstack.keycloak_client import KeycloakClient, TokenRefusedError
from devstack.keycloak_realm import CLI_CLIENT
from devstack.tokens import mint_token

# The API's default role names (config/api.py): least privilege, no role does it all.
ROLES = ["customer", "support", "operator", "catalog-admin"]
# The options that shape a minted dev token: a real token's claims are the realm's to decide.
DEV_OPTIONS = ("sub", "role", "email", "hours", "issuer_key")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.token",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    real = parser.add_argument_group("a real token from Keycloak")
    who = real.add_mutually_exclusive_group()
    who.add_argument("--user", metavar="NAME", help="a person's username in the realm")
    who.add_argument("--client-credentials", metavar="CLIENT", help="a service client's id")
    real.add_argument("--issuer", metavar="URL", help="the realm's issuer URL")
    real.add_argument("--client", help=f"the client of --user's password grant ({CLI_CLIENT})")
    dev = parser.add_argument_group("a dev token, minted here")
    dev.add_argument("--sub", help="the customer's or staff member's id")
    dev.add_argument("--role", choices=ROLES, help="default: customer")
    dev.add_argument("--email", help="the e-mail claim (default: <sub>@example.com)")
    dev.add_argument("--hours", type=float, help="lifetime (default: 12)")
    dev.add_argument(
        "--issuer-key",
        type=Path,
        help="sign RS256 with this local issuer's private key (devstack/jwks_issuer.py)",
    )
    return parser


def secret(variable: str, prompt: str) -> str:
    """From the environment if set, else asked on the terminal (never echoed)."""
    value = os.environ.get(variable)
    if value:
        return value
    try:
        return getpass.getpass(prompt)
    except EOFError:
        sys.exit(f"tools.token: nothing to read the prompt's answer from; set {variable}")
    except KeyboardInterrupt:
        sys.exit(130)


def fetch_token(args: argparse.Namespace) -> str:
    """The access token of ``--user``'s password grant or ``--client-credentials``' grant."""
    issuer = args.issuer or load_settings().auth.issuer
    try:
        keycloak, realm = KeycloakClient.of_issuer(issuer)
    except ValueError as exc:
        sys.exit(
            f"tools.token: {exc}: pass --issuer http(s)://<server>/realms/<realm> "
            "or set ORDERS_AUTH__ISSUER"
        )
    endpoint = keycloak.token_url_for(realm)
    try:
        if args.user:
            who = f"user {args.user!r}"
            password = secret("KEYCLOAK_PASSWORD", f"{args.user}'s password at {issuer}: ")
            answer = keycloak.password_grant(
                args.user, password, client_id=args.client or CLI_CLIENT, realm=realm
            )
        else:
            who = f"client {args.client_credentials!r}"
            client_secret = secret(
                "KEYCLOAK_CLIENT_SECRET", f"{args.client_credentials}'s client secret: "
            )
            answer = keycloak.client_credentials_grant(
                args.client_credentials, client_secret, realm=realm
            )
    except TokenRefusedError as exc:
        said = ": ".join(part for part in (exc.error, exc.description) if part)
        sys.exit(
            f"tools.token: Keycloak refused a token for {who} ({endpoint} answered "
            f"{exc.status}): {said}"
        )
    except httpx.HTTPError as exc:
        sys.exit(f"tools.token: cannot reach the issuer's token endpoint {endpoint}: {exc}")
    return str(answer["access_token"])


def dev_token(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    if args.sub is None:
        parser.error(
            "--sub is required for a dev token (or --user NAME for a real one from Keycloak)"
        )
    settings = load_settings()
    if settings.auth.jwks_url and args.issuer_key is None:
        parser.error(
            "ORDERS_AUTH__JWKS_URL is set: the API only trusts its issuer's keys; pass "
            "--issuer-key <run dir>/issuer/issuer-key.pem for the local issuer, or "
            "--user NAME for a real token from Keycloak"
        )
    return mint_token(
        settings.auth,
        args.sub,
        args.role or "customer",
        timedelta(hours=args.hours if args.hours is not None else 12.0),
        email=args.email or f"{args.sub}@example.com",
        issuer_key=args.issuer_key,
    )


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if args.user or args.client_credentials:
        given = [
            f"--{name.replace('_', '-')}" for name in DEV_OPTIONS if getattr(args, name) is not None
        ]
        if given:
            parser.error(
                f"{', '.join(given)}: only for a minted dev token; with --user or "
                "--client-credentials the realm decides the token's subject, roles and e-mail"
            )
        if args.client_credentials and args.client:
            parser.error("--client goes with --user; --client-credentials names its own client")
        print(fetch_token(args))
    else:
        if args.issuer or args.client:
            parser.error("--issuer and --client go with --user or --client-credentials")
        print(dev_token(parser, args))


if __name__ == "__main__":
    main()
