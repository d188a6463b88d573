"""Trace context without spans: the tracer of a process that exports no spans.

Without an OTLP endpoint nothing reads a span's name, attributes or timing, yet its
context still matters: the trace id joins the log lines of one order across processes,
rides Temporal's headers from the API through the saga to each activity, is stored with
each event (``traceparent``) and leaves on the Kafka messages for other teams' consumers.
The SDK's provider built a full span for that (attributes, locks, processors) around every
workflow task, activity and HTTP call; profiled, that was a tenth of a worker's CPU.

This tracer hands out non-recording spans with a context of their own: a new span id in
the parent's trace (a new trace at a root), the parent's flags and state, so every
``traceparent`` reads exactly as the SDK's would with its default sampler (parent-based,
always on); instrumentations see ``is_recording()`` false and skip their attribute work.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    NoOpTracer,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
)
from opentelemetry.util.types import Attributes
from typing_extensions import override

__all__ = ["ContextOnlyTracerProvider"]

_IDS = RandomIdGenerator()
# What the SDK's default sampler (parent-based, always on) gives a root span: sampled, and
# a random trace id (W3C trace context level 2's flag, which the SDK sets too).
_ROOT_FLAGS = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)


class _ContextOnlyTracer(NoOpTracer):
    # ``start_as_current_span`` is NoOpTracer's: it starts a span here and makes it current.
    @override
    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        parent = trace.get_current_span(context).get_span_context()
        if parent.is_valid:
            return NonRecordingSpan(
                SpanContext(
                    parent.trace_id,
                    _IDS.generate_span_id(),
                    is_remote=False,
                    trace_flags=parent.trace_flags,
                    trace_state=parent.trace_state,
                )
            )
        return NonRecordingSpan(
            SpanContext(
                _IDS.generate_trace_id(),
                _IDS.generate_span_id(),
                is_remote=False,
                trace_flags=_ROOT_FLAGS,
            )
        )


class ContextOnlyTracerProvider(trace.TracerProvider):
    """Every tracer propagates context and records nothing."""

    def __init__(self) -> None:
        self._tracer = _ContextOnlyTracer()

    @override
    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        return self._tracer
