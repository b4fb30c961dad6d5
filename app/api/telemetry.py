"""What FastAPI's OpenTelemetry spans may carry (``AFTERCARE_OPENTELEMETRY``).

FastAPI's native telemetry starts each request's server span with ``url.path`` (the full path,
ids included: ``/v1/cases/3f2c…``) and ``url.query`` (the whole query string: directory searches
by age and gender, cursors). Neither may leave the process: the span is handed to FastAPI through
a tracer that keeps only the attributes named in ``ALLOWED``, so a span says which route
(``http.route``, the template, also in the span's name ``GET /v1/cases/{case_id}``), how it
ended (status, error type) and nothing about whom it concerned. Attributes FastAPI sets later
(route, status, error type) are on the same list. Operation spans (``fastapi.endpoint`` and
friends) carry the handler's qualified name only.

Spans go to the global tracer provider: the OTLP/HTTP exporter FastAPI sets up from the standard
``OTEL_EXPORTER_OTLP_*`` variables, or whatever a distro or the embedding program installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import Link, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import AnyValue

Attributes = Mapping[str, AnyValue] | None

ALLOWED = frozenset(
    {
        "url.scheme",
        "http.request.method",
        "http.request.method_original",
        "http.route",
        "http.response.status_code",
        "network.protocol.name",
        "network.protocol.version",
        "server.address",
        "server.port",
        "error.type",
        "code.function.name",
    }
)


def redact(attributes: Attributes) -> Attributes:
    if attributes is None:
        return None
    return {key: value for key, value in attributes.items() if key in ALLOWED}


class RedactingTracer(Tracer):
    def __init__(self, inner: Tracer) -> None:
        self._inner = inner

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
        return self._inner.start_span(
            name,
            context,
            kind,
            redact(attributes),
            links,
            start_time,
            record_exception,
            set_status_on_exception,
        )

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> AbstractContextManager[Span]:
        return self._inner.start_as_current_span(
            name,
            context,
            kind,
            redact(attributes),
            links,
            start_time,
            record_exception,
            set_status_on_exception,
            end_on_exit,
        )


class RedactingTracerProvider(TracerProvider):
    """The global tracer provider (looked up when FastAPI first asks, so one installed after the
    app was built is used), behind ``RedactingTracer``."""

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Tracer:
        inner = trace.get_tracer_provider().get_tracer(
            instrumenting_module_name, instrumenting_library_version, schema_url, attributes
        )
        return RedactingTracer(inner)

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """For FastAPI's set-up from ``OTEL_EXPORTER_OTLP_*``: the exporter joins the global SDK
        provider, which is installed first if nothing else has."""
        provider: Any = trace.get_tracer_provider()
        if not callable(getattr(provider, "add_span_processor", None)):
            trace.set_tracer_provider(SdkTracerProvider())
            provider = trace.get_tracer_provider()
        provider.add_span_processor(processor)
