"""One step of headless Chromium in the Web UI (``shoot.mjs``), as a signed-in person.

Each step starts a fresh browser, so a step with a :class:`Person` signs in at the identity
provider's page first, exactly as someone opening the UI would. What the page said is
returned, for the checks that follow.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
STEP_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Person:
    """Who signs in to the UI: a user of the identity provider's realm."""

    username: str
    password: str


async def shoot(
    step: str,
    url: str,
    png: Path,
    *args: str,
    person: Person | None = None,
    trust_spki: str | None = None,
) -> str:
    """Run ``step`` (page, list or signal; see shoot.mjs) off the event loop -- the workers
    on it answer the UI's queries -- and return the page's text. ``trust_spki``: the one
    self-signed certificate (the codec endpoint's) the browser accepts."""
    print(f"chromium: {step} {png.name}" + (f" as {person.username}" if person else ""), flush=True)
    env = dict(os.environ)
    if person is not None:
        env |= {"LOGIN_USER": person.username, "LOGIN_PASSWORD": person.password}
    if trust_spki is not None:
        env["TRUST_SPKI"] = trust_spki
    command = ["node", str(HERE / "shoot.mjs"), step, url, str(png), *args]
    await asyncio.to_thread(
        subprocess.run, command, check=True, timeout=STEP_TIMEOUT_SECONDS, env=env
    )
    said = png.with_suffix(".txt")
    text = said.read_text()
    said.unlink()  # the pictures' folder keeps pictures (docs/img); the caller has the text
    return text
