"""The Temporal Web UI server (``github.com/temporalio/ui-server``) for a real cluster.

The dev server carries its own UI; a cluster needs this separate process. Its config is
written into ``<run_dir>/config/development.yaml`` (the server reads ``--root``/config).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack import go_servers
from devstack.process import ManagedProcess, ManagedService, free_port, port_open
from devstack.temporal_tls import SERVER_NAME, ClusterCertificates


class TemporalWebUI(ManagedService):
    def __init__(
        self,
        run_dir: Path,
        frontend: str,
        *,
        port: int | None = None,
        namespace: str = "default",
        certificates: ClusterCertificates | None = None,
    ) -> None:
        self.run_dir = run_dir.absolute()
        self.frontend = frontend
        self.port = port or free_port()
        self.namespace = namespace
        self.certificates = certificates

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
