"""TLS to PostgreSQL as the settings configure it: the engine and the relay's lease connect
encrypted and check the server's certificate against the configured CA."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from config.settings import DatabaseSettings
from devstack.postgres import PostgresCluster
from devstack.process import ServiceUnavailableError
from outbox.lease import PostgresLease
from persistence.database import create_engine
from tests.fixtures.services import service_unavailable
from tests.integration.tls_certs import ServerCertificate, issue

pytestmark = pytest.mark.integration

_IS_TLS = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


class TlsPostgresCluster(PostgresCluster):
    """The project's cluster with ``ssl=on`` and a certificate in its data directory."""

    def server_args(self, pg_bin: Path) -> list[str]:
        return [
            *super().server_args(pg_bin),
            *("-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key"),
        ]


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> ServerCertificate:
    return issue(tmp_path_factory.mktemp("pg-tls"), "pg")


@pytest.fixture(scope="module")
def tls_cluster(
    tmp_path_factory: pytest.TempPathFactory, certificates: ServerCertificate
) -> Iterator[PostgresCluster]:
    data_dir = tmp_path_factory.mktemp("pg-tls-data") / "data"
    try:
        PostgresCluster(data_dir).start().stop()  # initdb, so the certificate can go in
    except ServiceUnavailableError as exc:
        service_unavailable(str(exc))
    owner = data_dir.stat()
    for source, name in (
        (certificates.certificate, "server.crt"),
        (certificates.key, "server.key"),
    ):
        target = data_dir / name
        shutil.copyfile(source, target)
        os.chown(target, owner.st_uid, owner.st_gid)
        target.chmod(0o600)
    cluster = TlsPostgresCluster(data_dir).start()
    yield cluster
    cluster.stop()


async def test_the_engine_connects_with_verify_full(
    tls_cluster: PostgresCluster, certificates: ServerCertificate
) -> None:
    settings = DatabaseSettings(
        url=tls_cluster.url(), sslmode="verify-full", sslrootcert=str(certificates.ca)
    )
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text(_IS_TLS))).scalar_one() is True
    finally:
        await engine.dispose()


async def test_a_server_signed_by_another_ca_is_refused(
    tls_cluster: PostgresCluster, tmp_path: Path
) -> None:
    stranger = issue(tmp_path, "stranger")
    settings = DatabaseSettings(
        url=tls_cluster.url(), sslmode="verify-full", sslrootcert=str(stranger.ca)
    )
    engine = create_engine(settings)
    try:
        with pytest.raises(OperationalError, match="certificate verify failed"):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()


async def test_the_relay_lease_connects_with_the_same_tls(
    tls_cluster: PostgresCluster, certificates: ServerCertificate
) -> None:
    settings = DatabaseSettings(
        url=tls_cluster.url(), sslmode="verify-full", sslrootcert=str(certificates.ca)
    )
    lease = PostgresLease(settings.url, tls=settings.tls_connect_args())
    connection = await lease._connect()
    try:
        cursor = await connection.execute(_IS_TLS)
        row = await cursor.fetchone()
        assert row is not None
        assert row[0] is True
    finally:
        await connection.close()
