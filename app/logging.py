"""Structured logging: one JSON object per line, with the request id bound per request.

Log events name what happened and carry ids (request, client, organisation), never survivor data,
secrets or tokens: request bodies, query strings and Authorization headers are not logged.

With ``AFTERCARE_OPENTELEMETRY`` on, a line written while a span is current (every line of a
request) also carries ``trace_id`` and ``span_id``, as hex, so logs and traces meet.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import orjson
import structlog
from opentelemetry import trace


def _orjson_dumps(obj: object, default: object = None) -> str:
    return orjson.dumps(obj, default=default).decode()  # type: ignore[arg-type]


def add_trace_ids(
    logger: object, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """``trace_id``/``span_id`` of the current span. Without tracing there is none (the context
    is invalid) and nothing is added."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def configure_logging(
    level: str = "INFO", *, json: bool = True, stream: TextIO | None = None
) -> None:
    stream = stream or sys.stderr
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    # Route the standard library (uvicorn, alembic, asyncpg) through the same renderer.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our middleware writes the access log (without query strings); uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx and httpcore log every request's full URL at INFO (a webhook receiver's URL may
    # carry a partner's credential in its query string); the worker logs each attempt itself,
    # without the URL.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(root.getEffectiveLevel(), logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


log = structlog.get_logger("aftercare")
