"""A readiness check asks what it checks at most once per interval (telemetry/probes.py)."""

from __future__ import annotations

from telemetry.probes import CachedCheck


async def test_a_cached_check_answers_from_memory_within_its_interval() -> None:
    asked: list[int] = []

    async def check() -> str | None:
        asked.append(1)
        return f"problem {len(asked)}"

    cached = CachedCheck(check, seconds=60.0)
    assert [await cached(), await cached()] == ["problem 1", "problem 1"]
    assert len(asked) == 1


async def test_a_cached_check_asks_again_once_its_interval_has_passed() -> None:
    asked: list[int] = []

    async def check() -> str | None:
        asked.append(1)
        return None if len(asked) > 1 else "not yet"

    cached = CachedCheck(check, seconds=0.0)
    assert [await cached(), await cached()] == ["not yet", None]
