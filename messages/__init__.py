"""What crosses Temporal: workflow and activity inputs and results, queue names, error types,
the search attributes the saga writes.

Pydantic models so fields can be added compatibly; sandbox-safe (no I/O). ``sdk_private``
is the one module that touches the SDK's private API (it sits here, beside the contract
that needs it).
"""
