"""What crosses Temporal: workflow and activity inputs and results, queue names, error types.

Pydantic models so fields can be added compatibly; sandbox-safe (no I/O).
"""
