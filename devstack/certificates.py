"""Certificates made on this machine with the ``cryptography`` package: a private CA and the
certificates it issues (devstack/temporal_tls.py's cluster set), and a self-signed loopback
certificate for an HTTPS endpoint a browser calls (the payload codec of the production UI).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_FOR = datetime.timedelta(days=365)


def subject_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "order-saga dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def issue(
    subject: str,
    issuer: Issued | None,
    *,
    usage: x509.ObjectIdentifier | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(subject))
        .issuer_name(issuer.cert.subject if issuer else subject_name(subject))
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
    return Issued(builder.sign(signer, hashes.SHA256()), key)


@dataclass(frozen=True)
class LoopbackCertificate:
    """A self-signed server certificate for 127.0.0.1 and localhost, and its key."""

    cert: Path
    key: Path

    @property
    def spki_sha256(self) -> str:
        """The base64 SHA-256 of its public key: what Chromium's
        ``--ignore-certificate-errors-spki-list`` takes to trust exactly this certificate."""
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def loopback_certificate(folder: Path) -> LoopbackCertificate:
    """``<folder>/https.pem`` and ``https.key``, made once and kept."""
    found = LoopbackCertificate(folder.absolute() / "https.pem", folder.absolute() / "https.key")
    if found.cert.exists() and found.key.exists():
        return found
    folder.mkdir(parents=True, exist_ok=True)
    issued = issue(
        "127.0.0.1",
        None,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    found.cert.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    found.key.write_bytes(pem_key(issued.key))
    found.key.chmod(0o600)
    return found
