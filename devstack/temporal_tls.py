"""Certificates for a Temporal cluster's mTLS frontends: a private CA, a server, a client.

Generated once into a folder (kept between runs) with the ``cryptography`` package, so the
mTLS path is exercised on this machine exactly as a deployment with real certificates
would use it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from temporalio.client import TLSConfig

from devstack.certificates import issue, pem_key

# The name clients check the server certificate against (ORDERS_TEMPORAL__TLS_SERVER_NAME).
SERVER_NAME = "temporal-frontend.order-saga.local"


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
        ca = issue("order-saga dev CA", None)
        server = issue(
            SERVER_NAME,
            ca,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=[
                x509.DNSName(SERVER_NAME),
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ],
        )
        client = issue("order-saga worker", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        pem = serialization.Encoding.PEM
        self.ca.write_bytes(ca.cert.public_bytes(pem))
        for stem, issued in (("server", server), ("client", client)):
            self.path(f"{stem}.pem").write_bytes(issued.cert.public_bytes(pem))
            key_path = self.path(f"{stem}.key")
            key_path.write_bytes(pem_key(issued.key))
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
