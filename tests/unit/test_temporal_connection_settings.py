"""Temporal connection settings that cannot work refuse to load, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.client import TLSConfig

from clients.temporal import TemporalConfigError, retry_config, tls_config
from config.settings import Settings, TemporalSettings
from tools.bootstrap import BootstrapError, check_sql_limits


def test_dev_defaults_are_plaintext_with_one_address() -> None:
    settings = TemporalSettings()
    assert tls_config(settings) is False
    assert settings.addresses == ["localhost:7233"]


def test_a_comma_separated_address_lists_every_frontend() -> None:
    settings = TemporalSettings(address="10.0.0.1:7233, 10.0.0.2:7233")
    assert settings.addresses == ["10.0.0.1:7233", "10.0.0.2:7233"]


@pytest.mark.parametrize("address", ["", "no-port", "a:7233,,b", "a:7233;b:7233"])
def test_an_address_that_is_not_host_port_is_refused(address: str) -> None:
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__ADDRESS"):
        TemporalSettings(address=address)


def test_a_client_certificate_without_its_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH", "/etc/tls/client.pem")
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__TLS_CLIENT_KEY_PATH"):
        Settings()


def test_a_key_without_its_certificate_is_refused() -> None:
    with pytest.raises(ValidationError, match="ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH"):
        TemporalSettings(tls_client_key_path="/etc/tls/client.key")


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    settings = TemporalSettings(tls_server_ca_path=str(tmp_path / "missing.pem"))
    with pytest.raises(TemporalConfigError, match="ORDERS_TEMPORAL__TLS_SERVER_CA_PATH"):
        tls_config(settings)


def test_mtls_files_become_the_sdk_tls_config(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(name.encode())
    settings = TemporalSettings(
        tls_client_cert_path=str(tmp_path / "client.pem"),
        tls_client_key_path=str(tmp_path / "client.key"),
        tls_server_ca_path=str(tmp_path / "ca.pem"),
        tls_server_name="frontend.example",
    )
    config = tls_config(settings)
    assert isinstance(config, TLSConfig)
    assert config.client_cert == b"client.pem"
    assert config.client_private_key == b"client.key"
    assert config.server_root_ca_cert == b"ca.pem"
    assert config.domain == "frontend.example"


def test_an_api_key_alone_means_tls_with_the_system_roots() -> None:
    assert tls_config(TemporalSettings(api_key="secret-key")) is True


def test_the_retry_budget_is_time_not_a_count() -> None:
    config = retry_config(TemporalSettings(rpc_retry_seconds=45))
    assert config.max_elapsed_time_millis == 45_000
    assert config.max_retries >= 1000


def test_sql_visibility_limits_are_checked_per_type() -> None:
    check_sql_limits({}, {f"K{i}": "Keyword" for i in range(10)})
    with pytest.raises(BootstrapError, match="11 Keyword"):
        check_sql_limits({"Existing": "Keyword"}, {f"K{i}": "Keyword" for i in range(10)})
    with pytest.raises(BootstrapError, match="4 Int"):
        check_sql_limits({}, {f"I{i}": "Int" for i in range(4)})


def test_a_search_attribute_registered_with_another_type_is_refused() -> None:
    with pytest.raises(BootstrapError, match="OrderStatus is registered as Text"):
        check_sql_limits({"OrderStatus": "Text"}, {"OrderStatus": "Keyword"})
