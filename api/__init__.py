"""The HTTP API: submit, read, list and cancel orders (FastAPI).

Build it with :func:`create_app`; ``python -m api`` serves it.
"""

from api.app import create_app

__all__ = ["create_app"]
