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
