"""Defaults that only suit a developer's machine, in one place.

The settings use them as defaults so that ``make dev`` needs no configuration, and
config/checks.py refuses every one of them in production: they are public.
"""

from __future__ import annotations

from pathlib import Path

# Where dev runs keep their databases, logs and ledgers.
RUN_DIR = Path(".run")
# The simulated payment provider's ledger (its database), a file in a run folder.
DEV_PROVIDER_LEDGER = "payment-provider.sqlite3"
# Only for dev tokens; production refuses to start with it (config/checks.py).
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
# The dev token issuer and audience: production must name its identity provider's.
DEV_ISSUER = "order-saga-dev"
DEV_AUDIENCE = "order-saga"
# Only for dev and tests: payloads it encrypts are as good as clear to anyone with this file.
# Production refuses to start with it (config/checks.py).
DEV_CODEC_KEY_ID = "dev"
DEV_CODEC_KEY = "ZGV2LW9ubHktY29kZWMta2V5LW5vdC1hLXNlY3JldCE="
# The example key once shipped in the Kubernetes manifests and the compose file: as public as
# the dev key, so production refuses it too; a deployment puts its own there.
EXAMPLE_CODEC_KEY = "7FzS5W2wrOfwWnMZIhdXmN4vov5rrvT6Bg9ITwtzSiA="
