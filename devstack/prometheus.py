"""A real Prometheus server scraping given targets with our alert rules (Debian ``prometheus``).

Its own config, data folder and a free port, so it never meets the Debian package's service
(which the package's policy leaves stopped in containers, and which would listen on :9090).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from devstack.process import ManagedProcess, ManagedService, ServiceUnavailableError, free_port

HOW_TO_GET = "Prometheus not installed (Debian: apt-get install prometheus)"


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ServiceUnavailableError(HOW_TO_GET)
    return binary


class PrometheusServer(ManagedService):
    def __init__(
        self,
        run_dir: Path,
        targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[Path] = (),
        interval: str = "1s",
    ) -> None:
        """``targets``: job name -> ``host:port`` addresses serving ``/metrics``."""
        self.run_dir = run_dir
        self.port = free_port()
        self.targets = targets
        self.rule_files = rule_files
        self.interval = interval

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(path.absolute()) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
                for job, addresses in self.targets.items()
            ],
        }
        config_path = self.run_dir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self._launch(
            ManagedProcess(
                "prometheus",
                [
                    prometheus_binary(),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={self.run_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                self.run_dir / "prometheus.log",
            )
        )
        self._wait_ready(self._ready, timeout, f"Prometheus on {self.url}")
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, **params: str) -> Any:
        """``/api/v1/<path>``'s ``data``."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]
