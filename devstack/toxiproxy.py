"""Toxiproxy: TCP proxies on loopback whose links can be slowed on demand.

This kernel has no ``tc netem``; Toxiproxy (a Go module, built by ``devstack.go_servers``)
stands between a client and a server, passes bytes through unchanged (TLS included) and
adds a *toxic* (latency, a timeout) when asked over its HTTP API.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from devstack import go_servers
from devstack.process import ManagedProcess, ManagedService, free_port, port_open


class Toxiproxy(ManagedService):
    def __init__(self, run_dir: Path, *, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        # proxy name -> its listen address
        self.listen: dict[str, str] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Toxiproxy:
        args = [str(go_servers.binary("toxiproxy")), "-host", "127.0.0.1", "-port", str(self.port)]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._launch(ManagedProcess("toxiproxy", args, self.run_dir / "toxiproxy.log"))
        self._wait_ready(lambda: port_open(self.port), timeout, f"Toxiproxy on {self.api_url}")
        return self

    def proxy(self, name: str, upstream: str) -> str:
        """A proxy to ``upstream`` (host:port) on a free loopback port; its address."""
        listen = f"127.0.0.1:{free_port()}"
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        httpx.post(f"{self.api_url}/proxies", json=body, timeout=10).raise_for_status()
        self.listen[name] = listen
        return listen

    def add_latency(self, milliseconds: int, *, jitter: int = 0) -> None:
        """Every proxy delays what it passes back to the client by ``milliseconds``."""
        for name in self.listen:
            body = {
                "name": "latency",
                "type": "latency",
                "stream": "downstream",
                "attributes": {"latency": milliseconds, "jitter": jitter},
            }
            httpx.post(
                f"{self.api_url}/proxies/{name}/toxics", json=body, timeout=10
            ).raise_for_status()

    def remove_latency(self) -> None:
        for name in self.listen:
            httpx.delete(f"{self.api_url}/proxies/{name}/toxics/latency", timeout=10)
