"""The transactional outbox: the relay to Kafka, CloudEvents mapping, the dedup consumer.

Only the lag query is re-exported: the API imports it for ``/readyz`` and must not pull in
a Kafka client with it. Import the rest from its module (``outbox.relay``, ...).
"""

from outbox.lag import OutboxLag, outbox_lag

__all__ = ["OutboxLag", "outbox_lag"]
