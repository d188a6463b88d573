"""``python -m tools.compose_secrets --dir DIR``: the compose demo's secrets, made on its
first start and kept.

docker-compose.temporal.yml runs this as a one-shot service into a named volume before
anything else starts. It writes what is missing and keeps what is there, so the database
password, the payload key and the certificates survive restarts (a new codec key would
leave earlier histories unreadable; a new password would lock the apps out of their
data):

- ``db-password``: PostgreSQL's (the postgres image reads it via ``POSTGRES_PASSWORD_FILE``);
- ``codec-key-id`` / ``codec-key``: the AES key of the payload codec;
- ``jwt-secret``: the API's HS256 token secret (the demo has no identity provider);
- ``provider-token``: the simulated payment provider's admin token;
- ``tls/``: a private CA, the Temporal server's certificate (mTLS: the apps present
  ``client.pem``);
- ``env.sh``: the ``ORDERS_*`` variables built from them, sourced by each app container's
  entrypoint;
- ``tokens/``: an admin and a customer token, minted anew on every start (they expire).

Every file is readable by the containers that mount the volume (they run as different
users); nothing outside them sees it. A real deployment takes its secrets from its own
store instead (the Helm chart's ``existingSecret``).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import secrets
import shlex
from pathlib import Path

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clients.codec import new_key

__all__ = ["SERVER_NAME", "ensure_secrets", "main", "secret_environment"]

# The Temporal service's name on the compose network: its certificate's name, and what the
# apps check it against (ORDERS_TEMPORAL__TLS_SERVER_NAME).
SERVER_NAME = "temporal"
DATABASE = "orders"
DATABASE_USER = "orders"
CERT_DAYS = 825
TOKEN_DAYS = 30
READABLE = 0o644


def _write_once(path: Path, value: str) -> None:
    """Kept once written: a restart must not change a password or a key in use."""
    if path.exists():
        return
    path.write_text(value + "\n")
    path.chmod(READABLE)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "order-saga compose demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    usages: list[x509.ObjectIdentifier],
    names: list[x509.GeneralName],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _ensure_tls(folder: Path) -> None:
    names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    if all((folder / name).exists() for name in names):
        return
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("order-saga compose CA", ca_key, None, [], [])
    # The server's certificate serves the frontend and internode traffic, and Temporal's
    # own system worker presents it as a client certificate to the frontend.
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(
        SERVER_NAME,
        server_key,
        (ca, ca_key),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        [
            x509.DNSName(SERVER_NAME),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _certificate(
        "order-saga", client_key, (ca, ca_key), [ExtendedKeyUsageOID.CLIENT_AUTH], []
    )
    # The CA's key is not kept: nothing here issues another certificate.
    files = {
        "ca.pem": _pem(ca),
        "server.pem": _pem(server),
        "server.key": _pem_key(server_key),
        "client.pem": _pem(client),
        "client.key": _pem_key(client_key),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
        (folder / name).chmod(READABLE)


def secret_environment(folder: Path) -> dict[str, str]:
    """The ``ORDERS_*`` variables that carry the secrets kept in ``folder``."""

    def read(name: str) -> str:
        return (folder / name).read_text().strip()

    password = read("db-password")
    return {
        "ORDERS_DATABASE__URL": (
            f"postgresql://{DATABASE_USER}:{password}@postgresql:5432/{DATABASE}"
        ),
        "ORDERS_TEMPORAL__CODEC__KEYS": json.dumps({read("codec-key-id"): read("codec-key")}),
        "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID": read("codec-key-id"),
        "ORDERS_AUTH__JWT_SECRET": read("jwt-secret"),
        "ORDERS_PAYMENTS__PROVIDER_TOKEN": read("provider-token"),
    }


def ensure_secrets(folder: Path, *, issuer: str, audience: str) -> None:
    """Everything the module's docstring lists, in ``folder``; kept where already there."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    _write_once(folder / "db-password", secrets.token_urlsafe(24))
    _write_once(folder / "codec-key-id", f"compose-{today}")
    _write_once(folder / "codec-key", new_key())
    _write_once(folder / "jwt-secret", secrets.token_urlsafe(48))
    _write_once(folder / "provider-token", secrets.token_urlsafe(32))
    _ensure_tls(folder / "tls")
    lines = [
        f"export {name}={shlex.quote(value)}" for name, value in secret_environment(folder).items()
    ]
    (folder / "env.sh").write_text("\n".join(lines) + "\n")
    (folder / "env.sh").chmod(READABLE)
    _mint_tokens(folder, issuer=issuer, audience=audience)


def _mint_tokens(folder: Path, *, issuer: str, audience: str) -> None:
    tokens = folder / "tokens"
    tokens.mkdir(exist_ok=True)
    tokens.chmod(0o755)
    secret = (folder / "jwt-secret").read_text().strip()
    now = datetime.datetime.now(datetime.UTC)
    for subject, role in (("alice", "customer"), ("ops", "operator")):
        claims = {
            "sub": subject,
            "roles": [role],
            "email": f"{subject}@example.com",
            "iss": issuer,
            "aud": audience,
            "iat": now,
            "exp": now + datetime.timedelta(days=TOKEN_DAYS),
        }
        path = tokens / f"{role}.jwt"
        path.write_text(jwt.encode(claims, secret, algorithm="HS256") + "\n")
        path.chmod(READABLE)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.compose_secrets", description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="the secrets volume")
    parser.add_argument("--issuer", required=True, help="the tokens' iss (ORDERS_AUTH__ISSUER)")
    parser.add_argument("--audience", required=True, help="the tokens' aud (ORDERS_AUTH__AUDIENCE)")
    args = parser.parse_args(argv)
    ensure_secrets(args.dir, issuer=args.issuer, audience=args.audience)
    print(f"secrets ready in {args.dir} (tokens in {args.dir / 'tokens'})")


if __name__ == "__main__":
    main()
