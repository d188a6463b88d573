"""What production refuses: dev secrets, stores and transports that cannot be production,
and demo parts unless the demo allowance (config/demo_allowance.py) names them.

Each refusal names the ``ORDERS_…`` setting to change. A demo part is refused here like
anything else; only ``DEMO_ALLOWANCE``'s entries are let through, and only with
``ORDERS_DEMO_ALLOWANCE=true``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

from config.api import AuthSettings
from config.database import DatabaseSettings
from config.demo_allowance import (
    DEMO_ALLOWANCE,
    FEW_KAFKA_REPLICAS,
    LOG_NOTICES,
    MIN_REPLICATION_FACTOR,
    SIMULATED_PROVIDER,
    DemoPart,
)
from config.dev_defaults import DEV_CODEC_KEY, DEV_ISSUER, DEV_JWT_SECRET, EXAMPLE_CODEC_KEY
from config.kafka import KafkaSettings
from config.saga import NotificationSettings, PaymentSettings
from config.temporal import TemporalSettings

__all__ = ["CheckedSettings", "production_problems"]

# The namespace every Temporal server starts with: shared by whatever else runs there, and
# what a deployment gets by forgetting to set its own.
DEFAULT_NAMESPACE = "default"


class CheckedSettings(Protocol):
    """What the checks read of config/settings.py's Settings, which calls them while it is
    being built (so this module cannot import it without a circle)."""

    @property
    def environment(self) -> str: ...
    @property
    def demo_allowance(self) -> bool: ...
    @property
    def auth(self) -> AuthSettings: ...
    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def database(self) -> DatabaseSettings: ...
    @property
    def temporal(self) -> TemporalSettings: ...
    @property
    def payments(self) -> PaymentSettings: ...
    @property
    def notifications(self) -> NotificationSettings: ...


@dataclass(frozen=True)
class _Refusal:
    message: str
    # The demo part this is, when it is one; None: never allowed in production.
    part: DemoPart | None = None


def production_problems(settings: CheckedSettings) -> list[str]:
    refusals = [
        *_auth_refusals(settings.auth),
        *_codec_refusals(settings.temporal),
        *_store_refusals(settings.database, settings.kafka),
        *_temporal_refusals(settings.temporal),
        *_demo_part_refusals(settings),
    ]
    allowed = DEMO_ALLOWANCE if settings.demo_allowance else ()
    return [r.message for r in refusals if r.part is None or r.part not in allowed]


def _auth_refusals(auth: AuthSettings) -> list[_Refusal]:
    refusals = []
    if not auth.jwks_url and auth.jwt_secret == DEV_JWT_SECRET:
        refusals.append(
            _Refusal(
                "production needs ORDERS_AUTH__JWKS_URL or a non-default ORDERS_AUTH__JWT_SECRET"
            )
        )
    if not auth.issuer or auth.issuer == DEV_ISSUER:
        refusals.append(
            _Refusal(
                "production needs ORDERS_AUTH__ISSUER set to the identity provider's issuer "
                f"(not the dev issuer {DEV_ISSUER!r})"
            )
        )
    if not auth.audience or "audience" not in auth.model_fields_set:
        refusals.append(
            _Refusal(
                "production needs ORDERS_AUTH__AUDIENCE set to the audience its identity "
                "provider puts in this service's tokens"
            )
        )
    return refusals


def _codec_refusals(temporal: TemporalSettings) -> list[_Refusal]:
    # By value, whatever id it is filed under: a key anyone can read protects nothing.
    if {DEV_CODEC_KEY, EXAMPLE_CODEC_KEY} & set(temporal.codec.keys.values()):
        return [
            _Refusal(
                "production needs its own ORDERS_TEMPORAL__CODEC__KEYS and "
                "ORDERS_TEMPORAL__CODEC__ACTIVE_KEY_ID (the dev and example keys are public: "
                "payloads they encrypt are as good as clear)"
            )
        ]
    return []


def _store_refusals(database: DatabaseSettings, kafka: KafkaSettings) -> list[_Refusal]:
    refusals = []
    if not database.is_postgres:
        scheme = database.url.partition(":")[0]
        refusals.append(
            _Refusal(
                f"production needs PostgreSQL in ORDERS_DATABASE__URL (or DATABASE_URL), not "
                f"{scheme}: a SQLite file is one machine's, and its writers queue on one lock"
            )
        )
    if not kafka.enabled:
        refusals.append(
            _Refusal(
                "production needs ORDERS_KAFKA__BOOTSTRAP_SERVERS (or KAFKA_BOOTSTRAP_SERVERS): "
                "without Kafka no event leaves the outbox and the relay has nothing to do"
            )
        )
    elif kafka.replication_factor < MIN_REPLICATION_FACTOR:
        refusals.append(
            _Refusal(
                f"production needs ORDERS_KAFKA__REPLICATION_FACTOR of at least "
                f"{MIN_REPLICATION_FACTOR}, not {kafka.replication_factor}: with fewer "
                "copies a broker's loss loses events already acknowledged",
                FEW_KAFKA_REPLICAS,
            )
        )
    return refusals


def _temporal_refusals(temporal: TemporalSettings) -> list[_Refusal]:
    refusals = []
    remote = [address for address in temporal.addresses if not _loopback(address)]
    if remote and not temporal.tls_enabled:
        refusals.append(
            _Refusal(
                f"production needs TLS to a Temporal off this machine: ORDERS_TEMPORAL__ADDRESS "
                f"names {', '.join(remote)} but neither ORDERS_TEMPORAL__TLS (with "
                "ORDERS_TEMPORAL__TLS_CLIENT_CERT_PATH for mTLS) nor ORDERS_TEMPORAL__API_KEY "
                "is set, so payloads and credentials would cross the network in clear"
            )
        )
    if temporal.namespace == DEFAULT_NAMESPACE:
        refusals.append(
            _Refusal(
                f"production needs ORDERS_TEMPORAL__NAMESPACE set to a namespace of its own, "
                f"not {DEFAULT_NAMESPACE!r} (shared with whatever else runs on the server, "
                "with the server's default retention)"
            )
        )
    return refusals


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _demo_part_refusals(settings: CheckedSettings) -> list[_Refusal]:
    payments = settings.payments
    refusals = []
    if payments.provider == "simulated":
        refusals.append(
            _Refusal(
                "production refuses ORDERS_PAYMENTS__PROVIDER=simulated: it takes no money "
                "(set stripe, or ORDERS_DEMO_ALLOWANCE=true for a demo)",
                SIMULATED_PROVIDER,
            )
        )
        # Whatever the allowance says: the provider service's refunds and outage switch
        # are open to anyone who reaches it without its token.
        if not payments.provider_token.get_secret_value():
            refusals.append(
                _Refusal(
                    "production needs ORDERS_PAYMENTS__PROVIDER_TOKEN with the simulated "
                    "provider: its service refuses to start without one, and workers send it"
                )
            )
        if not payments.provider_url:
            refusals.append(
                _Refusal(
                    "production needs ORDERS_PAYMENTS__PROVIDER_URL: without it each worker "
                    "process keeps a payment ledger of its own, and a refund landing on "
                    "another process never finds its charge"
                )
            )
    if settings.notifications.channel == "log":
        refusals.append(
            _Refusal(
                "production refuses ORDERS_NOTIFICATIONS__CHANNEL=log: customers would never "
                "be told (set smtp, or ORDERS_DEMO_ALLOWANCE=true for a demo)",
                LOG_NOTICES,
            )
        )
    return refusals
