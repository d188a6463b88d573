"""A local token issuer for production-like dev: an RSA key and its JWKS over HTTP.

The API in production mode trusts only keys it fetches from ``ORDERS_AUTH__JWKS_URL``;
this stands in for the identity provider. The private key is a PEM file in the run
directory (kept across restarts, so tokens minted earlier stay valid);
``python -m tools.token --issuer-key <run dir>/issuer/issuer-key.pem`` signs RS256 tokens
with it. The issuer identifier is the server's own URL, as an OpenID provider's is.

``python -m devstack.jwks_issuer --key FILE [--host H] [--port P]`` serves in the foreground;
``JwksIssuer`` runs that as a child process on a free port.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack.process import ManagedProcess, ManagedService, free_port

JWKS_PATH = "/.well-known/jwks.json"
AUDIENCE = "order-saga-api"
# Beside the key: the issuer URL and audience, so `tools.token --issuer-key` mints tokens
# the API accepts without repeating them.
IDENTITY_FILE = "issuer.json"


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The issuer's private key from ``path``, created (mode 0600) the first time."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The public half as a JWK whose ``kid`` is its RFC 7638 thumbprint."""
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": _thumbprint(jwk), "alg": "RS256", "use": "sig"}


def _thumbprint(jwk: dict[str, Any]) -> str:
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def read_identity(key_path: Path) -> dict[str, str] | None:
    """The issuer and audience a running issuer recorded beside its key, if any."""
    path = key_path.parent / IDENTITY_FILE
    if not path.exists():
        return None
    identity: dict[str, str] = json.loads(path.read_text())
    return identity


def serve(key_path: Path, host: str, port: int, issuer: str) -> None:
    document = json.dumps({"keys": [public_jwk(load_or_create_key(key_path))]}).encode()
    identity = {"issuer": issuer, "audience": AUDIENCE, "jwks_url": issuer + JWKS_PATH}
    (key_path.parent / IDENTITY_FILE).write_text(json.dumps(identity, indent=2))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in (JWKS_PATH, "/healthz"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"jwks-issuer: {format % args}\n")

    server = ThreadingHTTPServer((host, port), Handler)
    print(f"issuer {issuer}: JWKS at http://{host}:{port}{JWKS_PATH}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


class JwksIssuer(ManagedService):
    """The local issuer as a child process: key in ``run_dir``, JWKS on a free port."""

    def __init__(self, run_dir: Path, *, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        self.key_path = (run_dir / "issuer-key.pem").absolute()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.issuer + JWKS_PATH

    def settings_env(self) -> dict[str, str]:
        """What the API (and every process sharing its settings) needs to trust it."""
        return {
            "ORDERS_AUTH__JWKS_URL": self.jwks_url,
            "ORDERS_AUTH__ISSUER": self.issuer,
            "ORDERS_AUTH__AUDIENCE": AUDIENCE,
        }

    def start(self, timeout: float = 30.0) -> JwksIssuer:
        load_or_create_key(self.key_path)  # here, so a bad key file fails in the caller
        args = [sys.executable, "-m", "devstack.jwks_issuer", "--key", str(self.key_path)]
        args += ["--port", str(self.port), "--issuer", self.issuer]
        self._launch(
            ManagedProcess(
                "jwks-issuer", args, self.run_dir / "jwks-issuer.log", env={"PYTHONUNBUFFERED": "1"}
            )
        )

        def serving() -> bool:
            try:
                return httpx.get(self.jwks_url, timeout=1.0).is_success
            except httpx.HTTPError:
                return False

        self._wait_ready(serving, timeout, f"JWKS issuer on {self.issuer}")
        return self


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--key", type=Path, default=Path(".run/issuer/issuer-key.pem"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--issuer", help="the issuer URL tokens carry (default: this server's)")
    args = parser.parse_args()
    serve(args.key, args.host, args.port, args.issuer or f"http://{args.host}:{args.port}")


if __name__ == "__main__":
    main()
