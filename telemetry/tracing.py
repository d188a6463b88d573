"""Traces: the process's tracer provider, its OTLP exporter, and the spans around Kafka.

The exporter is configured the standard way, by ``OTEL_*`` variables, so any collector or
backend takes our spans without a setting of ours:

- ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``http://host:4318``) or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (``http://host:4318/v1/traces``) turns it on;
  neither set, no exporter and no spans recorded, but the context still propagates;
- ``OTEL_TRACES_EXPORTER=none`` turns it off even with an endpoint;
- ``OTEL_EXPORTER_OTLP_PROTOCOL`` must be ``http/protobuf`` (the exporter installed);
- ``OTEL_BSP_SCHEDULE_DELAY`` and friends tune the batching, ``OTEL_RESOURCE_ATTRIBUTES``
  adds attributes; the service name is the process's own (``order-api`` …).

A Kafka message carries its trace in a ``traceparent`` header (W3C trace context): the
relay's PRODUCER span is a child of the context stored with the event, and a consumer's
CONSUMER span is a child of the producer's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from telemetry.propagation import ContextOnlyTracerProvider

TRACEPARENT: Final = "traceparent"
ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
SUPPORTED_PROTOCOL: Final = "http/protobuf"
# W3C trace context only: the traceparent stored with an event is exactly this header.
_PROPAGATOR: Final = TraceContextTextMapPropagator()
_TRACER_NAME: Final = "order-saga"


class TracingConfigError(ValueError):
    """An ``OTEL_*`` variable asks for something this process cannot do."""


def exporter_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The OTLP endpoint the environment names, or ``None`` when spans are not exported."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return None
    for name in ENDPOINT_VARIABLES:
        if env.get(name, "").strip():
            for protocol_name in PROTOCOL_VARIABLES:
                protocol = env.get(protocol_name, "").strip()
                if protocol and protocol != SUPPORTED_PROTOCOL:
                    raise TracingConfigError(
                        f"{protocol_name}={protocol!r}: only {SUPPORTED_PROTOCOL!r} is "
                        "installed; point the endpoint at the collector's OTLP/HTTP port"
                    )
            return env[name].strip()
    return None


def configure_tracing(resource: Resource) -> trace.TracerProvider:
    """Install the global tracer provider, exporting over OTLP/HTTP when configured.

    Without an exporter the provider records nothing and still propagates the trace
    context (``telemetry.propagation``). The exporting provider flushes and shuts its
    exporter down at interpreter exit, so a process stopped by SIGTERM (every entry point
    returns from ``main()``) sends its last spans.
    """
    provider: trace.TracerProvider
    if exporter_endpoint() is not None:
        provider = TracerProvider(resource=resource)
        # The exporter reads the endpoint, headers, timeout and compression from OTEL_*.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider = ContextOnlyTracerProvider()
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, or ``None`` outside any trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """The remote parent a stored or received ``traceparent`` names (``None`` if absent)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({TRACEPARENT: traceparent})


def span_traceparent(span: Span) -> str | None:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def start_producer_span(topic: str, key: bytes, event_id: str, parent: str | None) -> Span:
    """A PRODUCER span for one message, child of the context stored with its event.

    Not made current: the relay sends a batch, and each span ends when the broker answers.
    """
    return trace.get_tracer(_TRACER_NAME).start_span(
        f"publish {topic}",
        context=context_from_traceparent(parent),
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "publish",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "messaging.kafka.message.key": key.decode(errors="replace"),
        },
    )


@contextlib.contextmanager
def consumer_span(
    topic: str,
    *,
    consumer_group: str,
    event_id: str,
    partition: int,
    offset: int,
    parent: str | None,
) -> Iterator[Span]:
    """The current CONSUMER span while one received message is handled."""
    with trace.get_tracer(_TRACER_NAME).start_as_current_span(
        f"process {topic}",
        context=context_from_traceparent(parent),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": consumer_group,
            "messaging.message.id": event_id,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
        },
    ) as span:
        yield span


def instrument_libraries(*, exporting: bool = True) -> None:
    """SQL statements (every engine created from now on, see ``persistence.database``) and
    outgoing HTTP (httpx) as spans.

    SQL spans only when ``exporting``: they are leaves, so without an exporter they carry
    no context anywhere and were a span per statement built for nothing (profiled, a tenth
    of an activity worker's CPU). Outgoing HTTP stays instrumented either way: it is what
    puts the ``traceparent`` header on calls to the payment provider.
    FastAPI is instrumented per app, in ``api.app.create_app``.
    """
    if exporting and not SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
        # Its metadata still says SQLAlchemy < 2.1 and it would refuse 2.1 silently; it only
        # listens to core engine events, which 2.1 keeps (tests/e2e/test_tracing.py proves
        # the SQL spans arrive). Drop the flag once a release names 2.1.
        SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    if not HTTPXClientInstrumentor().is_instrumented_by_opentelemetry:
        HTTPXClientInstrumentor().instrument()
