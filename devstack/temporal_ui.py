"""The Temporal Web UI server (``github.com/temporalio/ui-server``) for a real cluster.

The dev server carries its own UI; a cluster needs this separate process. Its config is
written into ``<run_dir>/config/development.yaml`` (the server reads ``--root``/config).

With a :class:`UILogin`, people sign in at the identity provider (OIDC, authorization code
flow) before the UI shows anything; with a codec endpoint as well, the browser sends the
signed-in user's access token to it, so the codec decodes payloads for operators only and
everyone else sees ciphertext.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from devstack import go_servers
from devstack.process import ManagedProcess, ManagedService, free_port, port_open
from devstack.temporal_tls import SERVER_NAME, ClusterCertificates


@dataclass(frozen=True)
class UILogin:
    """The identity provider the UI signs people in with: an OIDC issuer (its discovery
    document lives under it) and the UI's confidential client there."""

    issuer: str
    client_id: str
    client_secret: str


class TemporalWebUI(ManagedService):
    def __init__(
        self,
        run_dir: Path,
        frontend: str,
        *,
        port: int | None = None,
        namespace: str = "default",
        certificates: ClusterCertificates | None = None,
        login: UILogin | None = None,
        codec_endpoint: str | None = None,
    ) -> None:
        self.run_dir = run_dir.absolute()
        self.frontend = frontend
        self.port = port or free_port()
        self.namespace = namespace
        self.certificates = certificates
        self.login = login
        self.codec_endpoint = codec_endpoint

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "temporalGrpcAddress": self.frontend,
            "host": "127.0.0.1",
            "port": self.port,
            "enableUi": True,
            "defaultNamespace": self.namespace,
            "disableNewsFetch": True,
            "notifyOnNewVersion": False,
            "distribution": "server",
            "cors": {"allowOrigins": [self.url], "cookieInsecure": True},
        }
        if self.certificates is not None:
            config["tls"] = {
                "caFile": str(self.certificates.ca),
                "certFile": str(self.certificates.client_cert),
                "keyFile": str(self.certificates.client_key),
                "serverName": SERVER_NAME,
                "enableHostVerification": True,
            }
        if self.login is not None:
            config["auth"] = {
                "enabled": True,
                # Straight to the provider's sign-in page: the UI's own page only has a button.
                "redirectToProvider": True,
                "providers": [
                    {
                        "label": "Sign in",
                        "type": "oidc",
                        "providerUrl": self.login.issuer,
                        "clientId": self.login.client_id,
                        "clientSecret": self.login.client_secret,
                        "scopes": ["openid", "profile", "email"],
                        "callbackUrl": f"{self.url}/auth/sso/callback",
                    }
                ],
            }
        if self.codec_endpoint is not None:
            config["codec"] = {
                "endpoint": self.codec_endpoint,
                # The codec decodes for operators only: it must see who is asking.
                "passAccessToken": self.login is not None,
                "includeCredentials": False,
            }
        return config

    def start(self, timeout: float = 60.0) -> TemporalWebUI:
        config_dir = self.run_dir / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "development.yaml").write_text(yaml.safe_dump(self.config()))
        args = [
            str(go_servers.binary("temporal-ui-server")),
            "--root",
            str(self.run_dir),
            "--env",
            "development",
            "start",
        ]
        self._launch(
            ManagedProcess("temporal-ui", args, self.run_dir / "ui-server.log", cwd=self.run_dir)
        )
        self._wait_ready(lambda: port_open(self.port), timeout, f"Temporal Web UI on {self.url}")
        return self
