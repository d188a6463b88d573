"""The compose demo's secrets (tools/compose_secrets.py): generated once and kept, usable
as they are by the settings, the token check and a TLS handshake."""

from __future__ import annotations

import json
import shlex
import socket
import ssl
import threading
from pathlib import Path

import pytest

from api.auth import TokenVerifier
from clients.codec import EncryptionCodec
from config.settings import AuthSettings, CodecSettings
from tools.compose_secrets import SERVER_NAME, ensure_secrets

ISSUER = "compose-test-issuer"
AUDIENCE = "compose-test"
KEPT = ("db-password", "codec-key-id", "codec-key", "jwt-secret", "provider-token", "tls/ca.pem")


def _sourced(folder: Path) -> dict[str, str]:
    variables = {}
    for line in (folder / "env.sh").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        (variables[name],) = shlex.split(value)
    return variables


def test_a_second_start_keeps_every_secret(tmp_path: Path) -> None:
    """A restart must not change the database password or the payload key in use."""
    ensure_secrets(tmp_path, issuer=ISSUER, audience=AUDIENCE)
    first = {name: (tmp_path / name).read_text() for name in KEPT}
    ensure_secrets(tmp_path, issuer=ISSUER, audience=AUDIENCE)
    assert {name: (tmp_path / name).read_text() for name in KEPT} == first
    other = tmp_path / "other"
    ensure_secrets(other, issuer=ISSUER, audience=AUDIENCE)
    assert (other / "codec-key").read_text() != first["codec-key"]


async def test_the_exported_variables_give_a_working_codec_and_verifiable_tokens(
    tmp_path: Path,
) -> None:
    ensure_secrets(tmp_path, issuer=ISSUER, audience=AUDIENCE)
    variables = _sourced(tmp_path)
    password = (tmp_path / "db-password").read_text().strip()
    assert f"orders:{password}@postgresql:5432/orders" in variables["ORDERS_DATABASE__URL"]
    codec_settings = CodecSettings(
        keys=json.loads(variables["ORDERS_TEMPORAL__CODEC__KEYS"]),
        active_key_id=variables["ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID"],
    )
    EncryptionCodec.from_settings(codec_settings)
    verifier = TokenVerifier(
        AuthSettings(
            jwt_secret=variables["ORDERS_AUTH__JWT_SECRET"], issuer=ISSUER, audience=AUDIENCE
        )
    )
    operator = await verifier.verify((tmp_path / "tokens" / "operator.jwt").read_text().strip())
    customer = await verifier.verify((tmp_path / "tokens" / "customer.jwt").read_text().strip())
    assert operator.is_operator
    assert not customer.is_operator


def test_the_certificates_make_an_mtls_handshake_on_the_servers_name(tmp_path: Path) -> None:
    """The apps' client certificate is accepted by a server that requires one, and the
    server's certificate checks out under the name the apps expect."""
    ensure_secrets(tmp_path, issuer=ISSUER, audience=AUDIENCE)
    tls = tmp_path / "tls"
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tls / "ca.pem")
    server_side.load_cert_chain(tls / "server.pem", tls / "server.key")
    server_side.verify_mode = ssl.CERT_REQUIRED
    client_side = ssl.create_default_context(cafile=tls / "ca.pem")
    client_side.load_cert_chain(tls / "client.pem", tls / "client.key")
    peers: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept(count: int) -> None:
            for _ in range(count):
                connection, _ = listener.accept()
                try:
                    with server_side.wrap_socket(connection, server_side=True) as wrapped:
                        peers.append(wrapped.getpeercert())
                except (ssl.SSLError, OSError):
                    connection.close()  # the client gave up: the name did not match

        thread = threading.Thread(target=accept, args=(2,))
        thread.start()
        address = listener.getsockname()
        with (
            socket.create_connection(address) as raw,
            client_side.wrap_socket(raw, server_hostname=SERVER_NAME) as wrapped,
        ):
            wrapped.do_handshake()
        with (
            pytest.raises(ssl.SSLCertVerificationError),
            socket.create_connection(address, timeout=5) as raw,
        ):
            client_side.wrap_socket(raw, server_hostname="elsewhere")
        thread.join(timeout=10)
    assert len(peers) == 1, "the server saw no client certificate"
