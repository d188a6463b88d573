"""Configuration that cannot work refuses to start, with an error naming the setting.

Each check reads a Settings object already parsed and raises ValueError (which pydantic
turns into a ValidationError at start-up) naming the ``ORDERS_…`` variable to fix. What
production refuses besides is in config/production_checks.py.
"""

from __future__ import annotations

from pathlib import Path

from jwt.algorithms import get_default_algorithms

from config.api import AuthSettings
from config.database import DatabaseSettings
from config.kafka import KafkaSettings
from config.production_checks import CheckedSettings, production_problems

__all__ = ["refuse_unworkable"]


def refuse_unworkable(settings: CheckedSettings) -> None:
    problems = _auth_problems(settings.auth)
    problems += _kafka_problems(settings.kafka)
    problems += _database_problems(settings.database)
    if settings.environment == "production":
        problems += production_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))


def _auth_problems(auth: AuthSettings) -> list[str]:
    known = set(get_default_algorithms())
    unknown = [name for name in auth.algorithms if name not in known]
    if unknown:
        return [f"ORDERS_AUTH__ALGORITHMS names unknown algorithms {unknown}"]
    if auth.usable_algorithms:
        return []
    if auth.jwks_url:
        return [
            f"ORDERS_AUTH__ALGORITHMS={auth.algorithms} with ORDERS_AUTH__JWKS_URL accepts no "
            "token: public keys verify only asymmetric algorithms (e.g. RS256, ES256)"
        ]
    return [
        f"ORDERS_AUTH__ALGORITHMS={auth.algorithms} with ORDERS_AUTH__JWT_SECRET accepts no "
        "token: a shared secret verifies only HMAC algorithms (e.g. HS256); set "
        "ORDERS_AUTH__JWKS_URL for public keys"
    ]


def _missing_files(prefix: str, paths: dict[str, str]) -> list[str]:
    return [
        f"{prefix}{field.upper()}={path} names no readable file"
        for field, path in paths.items()
        if path and not Path(path).is_file()
    ]


def _kafka_problems(kafka: KafkaSettings) -> list[str]:
    prefix = "ORDERS_KAFKA__"
    protocol = kafka.security_protocol
    problems: list[str] = []
    tls_files = {
        "ssl_ca_location": kafka.ssl_ca_location,
        "ssl_certificate_location": kafka.ssl_certificate_location,
        "ssl_key_location": kafka.ssl_key_location,
    }
    if "SSL" not in protocol and any([*tls_files.values(), kafka.ssl_key_password]):
        problems.append(
            f"{prefix}SSL_* is set but {prefix}SECURITY_PROTOCOL={protocol} does not use TLS "
            "(SSL or SASL_SSL): the certificates would be ignored"
        )
    if bool(kafka.ssl_certificate_location) != bool(kafka.ssl_key_location):
        problems.append(
            f"{prefix}SSL_CERTIFICATE_LOCATION and {prefix}SSL_KEY_LOCATION go together "
            "(a client certificate needs its key)"
        )
    problems += _missing_files(prefix, tls_files)
    sasl = [kafka.sasl_mechanism, kafka.sasl_username, kafka.sasl_password]
    if protocol.startswith("SASL"):
        if not all(sasl):
            problems.append(
                f"{prefix}SECURITY_PROTOCOL={protocol} needs {prefix}SASL_MECHANISM, "
                f"{prefix}SASL_USERNAME and {prefix}SASL_PASSWORD"
            )
    elif any(sasl):
        problems.append(
            f"{prefix}SASL_* is set but {prefix}SECURITY_PROTOCOL={protocol} does not use SASL "
            "(SASL_SSL or SASL_PLAINTEXT): the credentials would be ignored"
        )
    return problems


def _database_problems(database: DatabaseSettings) -> list[str]:
    prefix = "ORDERS_DATABASE__"
    tls = database.tls_connect_args()
    if not tls:
        return []
    if not database.is_postgres:
        return [f"{prefix}SSL* is set for a database that is not PostgreSQL ({prefix}URL)"]
    problems: list[str] = []
    if database.sslmode in {"verify-ca", "verify-full"} and not database.sslrootcert:
        problems.append(
            f"{prefix}SSLMODE={database.sslmode} needs {prefix}SSLROOTCERT (the CA file the "
            "server's certificate is checked against)"
        )
    if database.sslmode in {"disable", "allow", "prefer"} and (
        database.sslrootcert or database.sslcert
    ):
        problems.append(
            f"{prefix}SSLROOTCERT/SSLCERT are set but {prefix}SSLMODE={database.sslmode} does "
            "not check the server: use verify-full"
        )
    if bool(database.sslcert) != bool(database.sslkey):
        problems.append(f"{prefix}SSLCERT and {prefix}SSLKEY go together")
    problems += _missing_files(
        prefix,
        {
            "sslrootcert": database.sslrootcert,
            "sslcert": database.sslcert,
            "sslkey": database.sslkey,
        },
    )
    return problems
