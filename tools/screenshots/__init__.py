"""Screenshots of the Web UI for docs/operations.md (``python -m tools.screenshots``)."""
