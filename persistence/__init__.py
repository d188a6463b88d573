"""Persistence: SQLModel tables, the async engine, the event store/outbox and migrations.

Nothing here connects or creates anything at import time.
"""
