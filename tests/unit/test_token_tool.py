"""``python -m tools.token`` mints tokens the API accepts for placing an order as written."""

from __future__ import annotations

import jwt
import pytest

from config.settings import AuthSettings
from tools import token


def _minted(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, object]:
    monkeypatch.setattr("sys.argv", ["tools.token", *argv])
    token.main()
    auth = AuthSettings()
    claims: dict[str, object] = jwt.decode(
        capsys.readouterr().out.strip(),
        auth.jwt_secret,
        algorithms=auth.algorithms,
        audience=auth.audience,
        issuer=auth.issuer,
    )
    return claims


def test_a_token_carries_an_email_claim_from_its_subject_by_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = _minted(["--sub", "alice", "--role", "customer"], monkeypatch, capsys)
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["customer"]
    assert claims["email"] == "alice@example.com"


def test_an_explicit_email_wins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    claims = _minted(["--sub", "bob", "--email", "bob@shop.test"], monkeypatch, capsys)
    assert claims["email"] == "bob@shop.test"


@pytest.mark.parametrize(
    "dev_option", [["--sub", "olga"], ["--role", "operator"], ["--issuer-key", "key.pem"]]
)
def test_a_real_token_refuses_the_options_of_a_dev_token(
    dev_option: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keycloak decides a real token's subject and roles: asking for others is an error,
    not silently ignored."""
    monkeypatch.setattr("sys.argv", ["tools.token", "--user", "olga", *dev_option])

    with pytest.raises(SystemExit) as exited:
        token.main()

    assert exited.value.code == 2
    assert f"{dev_option[0]}: only for a minted dev token" in capsys.readouterr().err


def test_with_a_jwks_url_a_dev_token_is_refused_and_a_real_login_suggested(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDERS_AUTH__JWKS_URL", "http://127.0.0.1:9/certs")
    monkeypatch.setattr("sys.argv", ["tools.token", "--sub", "olga", "--role", "operator"])

    with pytest.raises(SystemExit):
        token.main()

    err = capsys.readouterr().err
    assert "--issuer-key" in err
    assert "--user NAME" in err
