"""Real access tokens from the test session's Keycloak for the e2e harness (``Api.tokens``).

A subject names a user of the realm ``orders`` by username: the demo users of the realm file,
or users a test adds (``add``). Tokens come from the password grant of the CLI client and are
reused until shortly before they expire (the realm's lifespan is five minutes).
"""

from __future__ import annotations

import time

from devstack.keycloak_client import KeycloakClient
from devstack.keycloak_realm import DemoUser, demo_users

# A token this close to its expiry is not handed out again: a call may take that long.
MARGIN_SECONDS = 30.0


class KeycloakTokens:
    """``(username, role) -> access token``, the shape ``running_api(tokens=…)`` takes."""

    def __init__(self, keycloak: KeycloakClient) -> None:
        self.keycloak = keycloak
        self.users = {user.username: user for user in demo_users()}
        self._cache: dict[str, tuple[str, float]] = {}

    def add(self, user: DemoUser) -> None:
        """Create ``user`` in the realm (once) and hand out its tokens from now on."""
        if user.username not in self.users:
            self.keycloak.create_user(user)
            self.users[user.username] = user

    def __call__(self, subject: str, role: str) -> str:
        user = self.users.get(subject)
        if user is None:
            raise KeyError(f"no realm user {subject!r}: add() it first")
        if role not in user.roles:
            raise ValueError(f"{subject} holds {user.roles}, not {role!r}")
        cached = self._cache.get(subject)
        if cached is not None and cached[1] - MARGIN_SECONDS > time.monotonic():
            return cached[0]
        answer = self.keycloak.password_grant(user.username, user.password)
        token = str(answer["access_token"])
        self._cache[subject] = (token, time.monotonic() + float(answer["expires_in"]))
        return token
