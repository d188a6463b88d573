"""Telemetry settings and context: which OTEL_* turn the exporter on, what a log line
carries, and the request id the API echoes."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from api.access_log import AccessLog
from telemetry.context import order_context, request_context
from telemetry.logs import LogContextFilter, json_formatter
from telemetry.tracing import (
    TracingConfigError,
    context_from_traceparent,
    current_traceparent,
    exporter_endpoint,
)

TRACER = TracerProvider().get_tracer("test")


def test_no_endpoint_means_no_exporter() -> None:
    assert exporter_endpoint({}) is None


def test_an_otlp_endpoint_turns_the_exporter_on_unless_the_exporter_is_none() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert exporter_endpoint(env) == "http://127.0.0.1:4318"
    traces_only = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}
    assert exporter_endpoint(traces_only) == "http://c:4318/v1/traces"
    assert exporter_endpoint({**env, "OTEL_TRACES_EXPORTER": "none"}) is None


def test_a_protocol_that_is_not_installed_is_refused_naming_the_variable() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        exporter_endpoint(env)


def test_the_traceparent_is_the_active_spans_and_reads_back_as_its_parent() -> None:
    assert current_traceparent() is None
    with TRACER.start_as_current_span("activity") as span:
        traceparent = current_traceparent()
    context = span.get_span_context()
    assert traceparent is not None
    assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    with TRACER.start_as_current_span(
        "publish", context=context_from_traceparent(traceparent)
    ) as child:
        assert child.get_span_context().trace_id == context.trace_id
        assert isinstance(child, ReadableSpan)
        assert child.parent is not None
        assert child.parent.span_id == context.span_id


def _json_line(record_name: str = "activities.inventory") -> dict[str, object]:
    record = logging.LogRecord(record_name, logging.INFO, __file__, 1, "reserved %s", ("x",), None)
    assert LogContextFilter().filter(record)
    line: dict[str, object] = json.loads(json_formatter().format(record))
    return line


def test_a_json_line_carries_the_trace_the_order_and_the_request() -> None:
    with (
        TRACER.start_as_current_span("request") as span,
        order_context("o-1"),
        request_context("r-1"),
    ):
        line = _json_line()
    context = span.get_span_context()
    assert line["message"] == "reserved x"
    assert line["level"] == "INFO"
    assert line["logger"] == "activities.inventory"
    assert line["trace_id"] == f"{context.trace_id:032x}"
    assert line["span_id"] == f"{context.span_id:016x}"
    assert line["order_id"] == "o-1"
    assert line["request_id"] == "r-1"


def test_a_line_outside_any_trace_or_order_names_neither() -> None:
    line = _json_line()
    assert "trace_id" not in line
    assert "order_id" not in line


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def read(order_id: str) -> dict[str, str]:
        return {"order_id": order_id}

    app.add_middleware(AccessLog)
    return app


async def test_the_request_id_is_taken_from_the_request_or_made_and_always_echoed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        with caplog.at_level(logging.INFO, logger="api.access"):
            given = await http.get("/orders/o-9", headers={"X-Request-ID": "req-42"})
            made = await http.get("/orders/o-9")
            unusable = await http.get("/orders/o-9", headers={"X-Request-ID": "a b\tc"})
    assert given.headers["X-Request-ID"] == "req-42"
    assert len(made.headers["X-Request-ID"]) == 32
    assert unusable.headers["X-Request-ID"] not in {"a b\tc", made.headers["X-Request-ID"]}
    first = caplog.records[0]
    assert first.__dict__["method"] == "GET"
    assert first.__dict__["route"] == "/orders/{order_id}"
    assert first.__dict__["path"] == "/orders/o-9"
    assert first.__dict__["status"] == 200
    assert first.__dict__["duration_ms"] >= 0
