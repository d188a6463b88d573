"""Log lines that join up: one JSON object per line (python-json-logger), each stamped with
the trace and, where known, the order, the workflow, the activity and its attempt.

Every process logs through the standard library; :class:`LogContextFilter` on the one
handler adds the context from where it lives (the active span, the order and request
contextvars, Temporal's activity context and the ``temporal_workflow`` extra of
``workflow.logger``), so no call site has to pass it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from temporalio import activity

from config.settings import TelemetrySettings
from telemetry.context import current_order_id, current_request_id

TEXT_FORMAT: Final = (
    "%(asctime)s %(levelname)s %(name)s [order=%(order_id)s trace=%(trace_id)s] %(message)s"
)
JSON_FORMAT: Final = ("asctime", "levelname", "name", "message")
JSON_RENAMES: Final = {"asctime": "time", "levelname": "level", "name": "logger"}
# Temporal's own extras (whole info objects) are summed up by the fields below instead;
# uvicorn's colour copy of the message is noise in a JSON line.
NOT_LOGGED: Final = (*RESERVED_ATTRS, "temporal_workflow", "temporal_activity", "color_message")
UNKNOWN: Final = "-"


class LogContextFilter(logging.Filter):
    """Stamps ``trace_id``, ``span_id``, ``order_id``, ``request_id``, ``workflow_id``,
    ``activity`` and ``attempt`` on a record, each only where it is known."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = {}
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            fields["trace_id"] = format(span_context.trace_id, "032x")
            fields["span_id"] = format(span_context.span_id, "016x")
        order_id = current_order_id()
        if order_id != UNKNOWN:
            fields["order_id"] = order_id
        request_id = current_request_id()
        if request_id:
            fields["request_id"] = request_id
        if activity.in_activity():
            info = activity.info()
            fields["workflow_id"] = info.workflow_id
            fields["activity"] = info.activity_type
            fields["attempt"] = info.attempt
        workflow = getattr(record, "temporal_workflow", None)
        if isinstance(workflow, dict) and "workflow_id" in workflow:
            fields["workflow_id"] = workflow["workflow_id"]
        for name, value in fields.items():
            # An explicit ``extra=`` of the caller wins over the ambient context.
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        list(JSON_FORMAT),
        rename_fields=dict(JSON_RENAMES),
        reserved_attrs=list(NOT_LOGGED),
        json_ensure_ascii=False,
    )


def text_formatter() -> logging.Formatter:
    return logging.Formatter(TEXT_FORMAT, defaults={"order_id": UNKNOWN, "trace_id": UNKNOWN})


def configure_logging(settings: TelemetrySettings) -> None:
    """One stderr handler on the root logger, JSON or text as ``settings.log_json`` says."""
    handler = logging.StreamHandler()
    handler.addFilter(LogContextFilter())
    handler.setFormatter(json_formatter() if settings.log_json else text_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
