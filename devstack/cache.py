"""Where the devstack keeps what it builds or downloads once (Go-built servers, Kafka's jars,
the container base image): ``~/.cache/order-saga/…``, each movable by a variable of its own."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(override_env: str, *parts: str) -> Path:
    """``$override_env`` when it is set, else ``~/.cache/order-saga/<parts…>``."""
    override = os.environ.get(override_env)
    if override:
        return Path(override).expanduser()
    return Path.home().joinpath(".cache", "order-saga", *parts)
