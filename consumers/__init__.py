"""Consumers of the domain events: the reference order-history service and its parts.

Each consumer builds on :class:`outbox.consumer.InboxConsumer` (dedup on ``ce_id`` in the
effect's transaction, offsets committed after it) and adds schema validation, dead-letter
topics and Prometheus metrics from this package.
"""
