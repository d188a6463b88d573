"""Temporal activities: every side effect of the saga, idempotent and keyed by order id.

Each class receives its clients (session factory, gateway, channel) in ``__init__``; the
worker registers its bound methods under the names the workflows call.
"""
