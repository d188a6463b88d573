"""How the codec endpoint is served to the Web UI: HTTPS settings that go together, a missing
certificate named before the server starts, and the UI's sign-in and codec sections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings
from devstack.certificates import loopback_certificate
from devstack.temporal_ui import TemporalWebUI, UILogin

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "tls",
    [{"codec_tls_cert_path": "/tls/codec.pem"}, {"codec_tls_key_path": "/tls/codec.key"}],
)
def test_a_codec_certificate_without_its_key_or_the_reverse_is_refused(
    tls: dict[str, str],
) -> None:
    with pytest.raises(ValidationError, match="ORDERS_API__CODEC_TLS_CERT_PATH and"):
        Settings.model_validate({"api": tls})


def test_the_codec_process_names_a_missing_certificate_and_does_not_start(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.codec"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "ORDERS_API__CODEC_PORT": "1",
            "ORDERS_API__CODEC_TLS_CERT_PATH": str(tmp_path / "absent.pem"),
            "ORDERS_API__CODEC_TLS_KEY_PATH": str(tmp_path / "absent.key"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"ORDERS_API__CODEC_TLS_CERT_PATH: no file at {tmp_path / 'absent.pem'}" in done.stderr


def test_the_loopback_certificate_is_made_once_and_its_key_hash_stays(tmp_path: Path) -> None:
    first = loopback_certificate(tmp_path)
    again = loopback_certificate(tmp_path)
    assert first == again
    assert first.spki_sha256 == again.spki_sha256
    assert len(first.spki_sha256) == 44  # base64 of 32 bytes
    assert first.key.stat().st_mode & 0o777 == 0o600


def test_a_ui_with_a_login_sends_people_to_the_provider_and_passes_their_token(
    tmp_path: Path,
) -> None:
    ui = TemporalWebUI(
        tmp_path,
        "127.0.0.1:7233",
        port=8233,
        login=UILogin("http://127.0.0.1:8180/realms/orders", "temporal-ui", "secret"),
        codec_endpoint="https://127.0.0.1:8001/codec",
    )
    config = ui.config()
    auth = config["auth"]
    assert isinstance(auth, dict)
    assert auth["enabled"] is True
    assert auth["redirectToProvider"] is True
    provider = auth["providers"][0]
    assert provider["providerUrl"] == "http://127.0.0.1:8180/realms/orders"
    assert provider["callbackUrl"] == "http://127.0.0.1:8233/auth/sso/callback"
    assert config["codec"] == {
        "endpoint": "https://127.0.0.1:8001/codec",
        "passAccessToken": True,
        "includeCredentials": False,
    }


def test_a_ui_without_a_login_has_no_token_to_pass(tmp_path: Path) -> None:
    config = TemporalWebUI(tmp_path, "127.0.0.1:7233", codec_endpoint="http://x/codec").config()
    assert "auth" not in config
    assert config["codec"] == {
        "endpoint": "http://x/codec",
        "passAccessToken": False,
        "includeCredentials": False,
    }
