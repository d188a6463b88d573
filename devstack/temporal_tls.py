"""Certificates for a Temporal cluster's mTLS frontends: a private CA, a server, a client.

Generated once into a folder (kept between runs) with the ``cryptography`` package, so the
mTLS path is exercised on this machine exactly as a deployment with real certificates
would use it.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from temporalio.client import TLSConfig

# The name clients check the server certificate against (ORDERS_TEMPORAL__TLS_SERVER_NAME).
SERVER_NAME = "temporal-frontend.order-saga.local"
VALID_FOR = datetime.timedelta(days=365)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "order-saga dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    subject: str,
    issuer: _Issued | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> _Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.cert.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = issuer.key if issuer else key
    return _Issued(builder.sign(signer, hashes.SHA256()), key)


class ClusterCertificates:
    """``ca.pem``, ``server.pem``/``server.key`` and ``client.pem``/``client.key`` in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.absolute()

    def path(self, name: str) -> Path:
        return self.folder / name

    @property
    def ca(self) -> Path:
        return self.path("ca.pem")

    @property
    def client_cert(self) -> Path:
        return self.path("client.pem")

    @property
    def client_key(self) -> Path:
        return self.path("client.key")

    def ensure(self) -> ClusterCertificates:
        """Generate the set unless a complete one is already there."""
        names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
        if all(self.path(name).exists() for name in names):
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        ca = _issue("order-saga dev CA", None)
        server = _issue(
            SERVER_NAME,
            ca,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=[
                x509.DNSName(SERVER_NAME),
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ],
        )
        client = _issue("order-saga worker", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        pem = serialization.Encoding.PEM
        self.ca.write_bytes(ca.cert.public_bytes(pem))
        for stem, issued in (("server", server), ("client", client)):
            self.path(f"{stem}.pem").write_bytes(issued.cert.public_bytes(pem))
            key_path = self.path(f"{stem}.key")
            key_path.write_bytes(_pem_key(issued.key))
            key_path.chmod(0o600)
        return self

    def server_config(self) -> dict[str, object]:
        """The server config's ``global.tls``: mTLS on the frontends, and the server's own
        system worker presenting the client certificate to them."""
        client_side = {"serverName": SERVER_NAME, "rootCaFiles": [str(self.ca)]}
        return {
            "frontend": {
                "server": {
                    "certFile": str(self.path("server.pem")),
                    "keyFile": str(self.path("server.key")),
                    "requireClientAuth": True,
                    "clientCaFiles": [str(self.ca)],
                },
                "client": client_side,
            },
            "systemWorker": {
                "certFile": str(self.client_cert),
                "keyFile": str(self.client_key),
                "client": client_side,
            },
        }

    def client_tls_config(self) -> TLSConfig:
        return TLSConfig(
            server_root_ca_cert=self.ca.read_bytes(),
            domain=SERVER_NAME,
            client_cert=self.client_cert.read_bytes(),
            client_private_key=self.client_key.read_bytes(),
        )
