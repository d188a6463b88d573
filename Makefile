# The two commands: `make dev` runs the whole system, `make test` proves it.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
# Use uv from PATH when present; otherwise bootstrap a private copy with the system Python.
UV := $(or $(shell command -v uv 2>/dev/null),.cache/uv/bin/uv)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install dev test lint typecheck unit bench bench-smoke faults explore upgrade-drill schemas publish-contracts clean

.cache/uv/bin/uv:
	$(PYTHON) -m venv .cache/uv
	.cache/uv/bin/pip install --quiet uv==$(UV_VERSION)

install: $(UV)
	$(UV) sync --frozen

dev: install
	$(UV) run python -m tools.dev $(ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run lint-imports --no-cache

typecheck: install
	$(UV) run mypy .

test: lint typecheck
	$(UV) run pytest

unit: install
	$(UV) run pytest tests/unit

bench: install
	$(UV) run python -m bench

# The schedule explorer at length: 50,000 generated schedules against the saga's invariants
# (docs/invariants.md), with progress; ARGS="--schedules N --seed S" to change them.
explore: install
	$(UV) run python -m tests.explorer $(ARGS)

# Load plus one fault at a time on the real stack; writes docs/faults.md (ARGS=--quick: short;
# ARGS=--production: the two-node cluster, partitions (root, iptables) and a slow link).
faults: install
	$(UV) run python -m faults $(ARGS)

# The Temporal server upgraded by one minor release under load, as docs/upgrade.md says;
# records its figures there. Not in `make test`: the previous release is a ~9 min build.
upgrade-drill: install
	$(UV) run python -m tests.cluster.upgrade_drill $(ARGS)

clean:
	rm -rf .run .venv .cache/uv

# Event JSON Schemas and the AsyncAPI document, from models/events.py.
schemas: install
	$(UV) run python -m outbox.schemas

# When a release is cut: the event schemas and the OpenAPI document become the published
# contract (schemas/events/published/, schemas/openapi/published.json) later changes must keep.
publish-contracts: schemas
	$(UV) run python -m tools.publish_contracts
