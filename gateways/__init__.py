"""Ports to the outside world (payment provider, notification channels) and their adapters.

Each port is a Protocol; activities receive an adapter in ``__init__``, built in ``main()``.
"""
