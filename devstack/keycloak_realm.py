"""The realm the devstack's Keycloak imports (devstack/keycloak/realm-orders.json), as data:
its name, its clients, and its demo users with their passwords (demo values, dev only)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REALM = "orders"
REALM_FILE = Path(__file__).resolve().parent / "keycloak" / "realm-orders.json"
API_AUDIENCE = "order-saga-api"  # bearer-only; an audience mapper puts it in access tokens
CLI_CLIENT = "order-saga-cli"  # public, password grant
UI_CLIENT = "temporal-ui"  # confidential, authorization code flow
AUTOMATION_CLIENT = "order-saga-automation"  # confidential, client credentials (support)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    email: str
    roles: tuple[str, ...]
    # The user's id, which is the tokens' `sub` (the API's customer id), when the realm file
    # pins it: the same on every fresh start, so demo orders keep their owner.
    subject: str | None = None


@cache
def _realm() -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return realm


def demo_users() -> list[DemoUser]:
    """The realm's people (not its service accounts), with their demo passwords."""
    users = []
    for user in _realm()["users"]:
        passwords = [c["value"] for c in user.get("credentials", []) if c["type"] == "password"]
        if passwords:
            roles = tuple(user.get("realmRoles", []))
            users.append(
                DemoUser(user["username"], passwords[0], user["email"], roles, user.get("id"))
            )
    return users


def client_secret(client_id: str) -> str:
    """A confidential client's secret as the realm file sets it."""
    for client in _realm()["clients"]:
        if client["clientId"] == client_id and "secret" in client:
            return str(client["secret"])
    raise KeyError(f"no confidential client {client_id!r} in {REALM_FILE.name}")
