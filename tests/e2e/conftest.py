"""The e2e fixtures: the running API (app + production workers) per test."""

from tests.e2e.harness import api

__all__ = ["api"]
