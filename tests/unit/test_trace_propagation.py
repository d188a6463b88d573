"""A process that exports no spans records none, yet its trace context reads exactly as
the SDK's: the same trace id down the chain, a new span id per hop, the same flags."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from telemetry.propagation import ContextOnlyTracerProvider
from telemetry.tracing import context_from_traceparent, current_traceparent

CONTEXT_ONLY = ContextOnlyTracerProvider().get_tracer("test")
SDK = TracerProvider().get_tracer("test")


def _parts(traceparent: str | None) -> tuple[str, str, str]:
    assert traceparent is not None
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    return trace_id, span_id, flags


def test_a_root_span_starts_a_trace_with_the_flags_the_sdk_gives_it() -> None:
    with CONTEXT_ONLY.start_as_current_span("request") as span:
        ours = _parts(current_traceparent())
    with SDK.start_as_current_span("request"):
        sdks = _parts(current_traceparent())
    assert not span.is_recording()
    assert int(ours[0], 16) != 0
    assert int(ours[1], 16) != 0
    assert ours[2] == sdks[2]


def test_a_child_span_stays_in_its_parents_trace_with_a_span_id_of_its_own() -> None:
    with CONTEXT_ONLY.start_as_current_span("workflow"):
        parent = _parts(current_traceparent())
        with CONTEXT_ONLY.start_as_current_span("activity"):
            child = _parts(current_traceparent())
    assert child[0] == parent[0]
    assert child[1] != parent[1]
    assert child[2] == parent[2]


def test_a_remote_parent_from_a_stored_traceparent_is_continued_with_its_flags() -> None:
    stored = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    with CONTEXT_ONLY.start_as_current_span("publish", context=context_from_traceparent(stored)):
        trace_id, span_id, flags = _parts(current_traceparent())
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span_id != "b7ad6b7169203331"
    assert flags == "00"


def test_outside_any_span_there_is_no_traceparent() -> None:
    span = CONTEXT_ONLY.start_span("detached")
    span.end()
    assert current_traceparent() is None
