"""Talking to a running Keycloak: its realm's addresses, tokens by password or client
credentials, and the few admin REST calls the tests and the dev stack make (as the bootstrap
admin). :class:`devstack.keycloak.Keycloak` is one of these for the server it starts; a
client alone reaches a server started elsewhere."""

from __future__ import annotations

from typing import Any

import httpx

from devstack.keycloak_realm import AUTOMATION_CLIENT, CLI_CLIENT, REALM, DemoUser, client_secret

ADMIN_USER = "admin"


class TokenRefusedError(Exception):
    """Keycloak's token endpoint said no (bad credentials, a disabled user, a wrong client)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class KeycloakClient:
    """One Keycloak server at ``url`` (its realms under ``/realms``); ``admin_password`` is
    the bootstrap admin's, needed only for the admin calls."""

    def __init__(self, url: str, admin_password: str | None = None) -> None:
        self._url = url.rstrip("/")
        self._admin_password = admin_password

    @classmethod
    def of_issuer(cls, issuer: str) -> tuple[KeycloakClient, str]:
        """The server and realm behind a realm's issuer URL (``<server>/realms/<realm>``, what
        ``auth.issuer`` holds), for tools that are given only that; its token endpoint is then
        ``<issuer>/protocol/openid-connect/token``."""
        server, marker, realm = issuer.rstrip("/").rpartition("/realms/")
        named = bool(realm) and "/" not in realm
        if not (marker and named and server.startswith(("http://", "https://"))):
            raise ValueError(f"{issuer!r} is not a Keycloak realm's issuer URL")
        return cls(server), realm

    @property
    def url(self) -> str:
        return self._url

    @property
    def admin_password(self) -> str:
        if self._admin_password is None:
            raise RuntimeError("no admin password given for Keycloak's admin REST API")
        return self._admin_password

    # -- addresses ----------------------------------------------------------------------------

    def issuer_for(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"

    @property
    def issuer(self) -> str:
        """Exactly what the tokens' ``iss`` holds (and what ``auth.issuer`` must be set to)."""
        return self.issuer_for(REALM)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    def token_url_for(self, realm: str) -> str:
        return f"{self.issuer_for(realm)}/protocol/openid-connect/token"

    @property
    def token_url(self) -> str:
        return self.token_url_for(REALM)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    # -- tokens -------------------------------------------------------------------------------

    def _token(self, realm: str, form: dict[str, str]) -> dict[str, Any]:
        response = httpx.post(self.token_url_for(realm), data=form, timeout=30)
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise TokenRefusedError(
                response.status_code,
                str(body.get("error", "")),
                str(body.get("error_description", response.text[:200])),
            )
        answer: dict[str, Any] = response.json()
        return answer

    def password_grant(
        self, username: str, password: str, *, client_id: str = CLI_CLIENT, realm: str = REALM
    ) -> dict[str, Any]:
        """The token endpoint's answer (``access_token``, ``expires_in``…) for a person."""
        form = {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password,
            "scope": "openid",
        }
        return self._token(realm, form)

    def access_token(self, username: str, password: str) -> str:
        return str(self.password_grant(username, password)["access_token"])

    def client_credentials_grant(
        self, client_id: str = AUTOMATION_CLIENT, secret: str | None = None, realm: str = REALM
    ) -> dict[str, Any]:
        """A service client's own token (no person), e.g. for scripts; the secret defaults to
        the realm file's (the demo realm)."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret if secret is not None else client_secret(client_id),
        }
        return self._token(realm, form)

    # -- the admin REST API -------------------------------------------------------------------

    def admin(self) -> httpx.Client:
        """An HTTP client on ``/admin/realms`` as the bootstrap admin (close it after use)."""
        form = {
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": ADMIN_USER,
            "password": self.admin_password,
        }
        token = self._token("master", form)["access_token"]
        return httpx.Client(
            base_url=f"{self.url}/admin/realms",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def set_user_enabled(self, username: str, enabled: bool, realm: str = REALM) -> None:
        with self.admin() as admin:
            found = admin.get(f"/{realm}/users", params={"username": username, "exact": "true"})
            found.raise_for_status()
            (user,) = found.json()
            admin.put(f"/{realm}/users/{user['id']}", json={"enabled": enabled}).raise_for_status()

    def create_user(self, user: DemoUser, realm: str = REALM) -> str:
        """Add a person with a password and realm roles; returns its id (the tokens' ``sub``).
        Names are set because Keycloak's user profile wants them before it issues tokens."""
        with self.admin() as admin:
            created = admin.post(
                f"/{realm}/users",
                json={
                    "username": user.username,
                    "email": user.email,
                    "emailVerified": True,
                    "firstName": user.username.capitalize(),
                    "lastName": "Test",
                    "enabled": True,
                    "credentials": [
                        {"type": "password", "value": user.password, "temporary": False}
                    ],
                },
            )
            created.raise_for_status()
            user_id = created.headers["Location"].rsplit("/", 1)[-1]
            roles = []
            for name in user.roles:
                found = admin.get(f"/{realm}/roles/{name}")
                found.raise_for_status()
                roles.append(found.json())
            if roles:
                mapped = admin.post(f"/{realm}/users/{user_id}/role-mappings/realm", json=roles)
                mapped.raise_for_status()
        return user_id

    def import_rsa_key(
        self, private_key_pem: str, *, priority: int, name: str, realm: str = REALM
    ) -> str:
        """Add an RSA signing key of the caller's own to the realm (a key provider); returns
        the provider's id. Keycloak signs with its highest-priority key and publishes all of
        them in the JWKS, so a priority below the generated key's (100) only publishes it."""
        with self.admin() as admin:
            created = admin.post(
                f"/{realm}/components",
                json={
                    "name": name,
                    "providerId": "rsa",
                    "providerType": "org.keycloak.keys.KeyProvider",
                    "config": {
                        "priority": [str(priority)],
                        "enabled": ["true"],
                        "active": ["true"],
                        "algorithm": ["RS256"],
                        "privateKey": [private_key_pem],
                    },
                },
            )
            created.raise_for_status()
        return created.headers["Location"].rsplit("/", 1)[-1]

    def remove_component(self, component_id: str, realm: str = REALM) -> None:
        with self.admin() as admin:
            admin.delete(f"/{realm}/components/{component_id}").raise_for_status()

    def jwks(self) -> dict[str, Any]:
        """The realm's public keys as a resource server fetches them."""
        response = httpx.get(self.jwks_url, timeout=30)
        response.raise_for_status()
        keys: dict[str, Any] = response.json()
        return keys

    def create_realm(self, representation: dict[str, Any]) -> None:
        """Add a realm (its clients, roles and users may come in the same representation)."""
        with self.admin() as admin:
            admin.post("", json=representation).raise_for_status()
