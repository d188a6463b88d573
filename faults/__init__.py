"""``python -m faults``: the published fault matrix (see docs/faults.md)."""
