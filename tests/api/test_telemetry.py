"""AFTERCARE_OPENTELEMETRY: each request is one server span named by its route template, with no
path, query string, id or survivor data in any span's attributes, and its log lines carry the
span's trace id. Spans are caught by the SDK's in-memory exporter on the global provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.api.telemetry import RedactingTracerProvider
from app.db.database import Database
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings
from tests.conftest import LOG_STREAM
from tests.factories import PLANTED, Factory, case_body

EXPORTER = InMemorySpanExporter()


def _global_sdk_provider() -> TracerProvider:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


@pytest.fixture(scope="module", autouse=True)
def _exporter() -> None:
    _global_sdk_provider().add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"opentelemetry": True})


def _attribute_values(span: ReadableSpan) -> str:
    return json.dumps({k: str(v) for k, v in (span.attributes or {}).items()})


def _server_span(spans: InMemorySpanExporter, route: str) -> ReadableSpan:
    found = [
        s
        for s in spans.get_finished_spans()
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get("http.route") == route
    ]
    assert len(found) == 1, [s.name for s in spans.get_finished_spans()]
    return found[0]


async def test_a_request_is_a_server_span_named_by_its_route_without_ids_or_survivor_data(
    client: httpx.AsyncClient, factory: Factory, spans: InMemorySpanExporter
) -> None:
    partner = await factory.partner()
    created = await client.post("/v1/cases", json=case_body(), headers=partner.headers)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    LOG_STREAM.seek(0, 2)
    start = LOG_STREAM.tell()
    # (an unknown query parameter is 422: the span and the log line still leave it out)
    read = await client.get(f"/v1/cases/{case_id}?unused=Planted-Query", headers=partner.headers)
    assert read.status_code == 422
    searched = await client.get(
        "/v1/organizations", params={"age": 14, "gender": "female"}, headers=partner.headers
    )
    assert searched.status_code == 200
    LOG_STREAM.seek(start)
    logged = [json.loads(line) for line in LOG_STREAM.read().splitlines() if line.strip()]

    span = _server_span(spans, "/v1/cases/{case_id}")
    assert span.name == "GET /v1/cases/{case_id}"
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 422
    assert "url.path" not in attributes and "url.query" not in attributes
    _server_span(spans, "/v1/cases")  # the POST
    search = _server_span(spans, "/v1/organizations")
    assert search.name == "GET /v1/organizations"

    # Operation spans (dependencies, the endpoint, serialisation) are children of the request's.
    children = [s for s in spans.get_finished_spans() if s.parent is not None]
    assert any(s.parent and s.parent.span_id == span.context.span_id for s in children)

    everything = " ".join(_attribute_values(s) + s.name for s in spans.get_finished_spans())
    for secret in (case_id, str(partner.org.id), partner.client.client_id, *PLANTED):
        assert secret not in everything
    for query in ("Planted-Query", "unused", "age", "female"):
        assert query not in everything

    # The request's log line carries the span's trace id.
    access = [line for line in logged if line.get("event") == "request"]
    assert access, logged
    trace_id = format(span.context.trace_id, "032x")
    assert any(line.get("trace_id") == trace_id for line in access)


async def test_logs_carry_no_trace_id_when_tracing_is_off(
    settings: Settings, database: Database, keyring: KeyRing, spans: InMemorySpanExporter
) -> None:
    off = create_app(
        settings.model_copy(update={"opentelemetry": False}),
        database=database,
        keyring=keyring,
        configure_logs=False,
    )
    LOG_STREAM.seek(0, 2)
    start = LOG_STREAM.tell()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=off), base_url="http://testserver"
    ) as plain:
        assert (await plain.get("/healthz")).status_code == 200
    LOG_STREAM.seek(start)
    logged = [json.loads(line) for line in LOG_STREAM.read().splitlines() if line.strip()]
    assert logged and all("trace_id" not in line for line in logged)
    assert spans.get_finished_spans() == ()


def test_exporter_set_up_from_the_environment_joins_the_global_provider() -> None:
    """FastAPI's OTEL_EXPORTER_OTLP_* set-up adds its span processor to the app's provider; it
    must end up on the global one, where the spans are."""
    extra = InMemorySpanExporter()
    RedactingTracerProvider().add_span_processor(SimpleSpanProcessor(extra))
    tracer = RedactingTracerProvider().get_tracer("test")
    with tracer.start_as_current_span("op", attributes={"url.path": "/v1/cases/x", "a": 1}):
        pass
    (span,) = extra.get_finished_spans()
    assert span.name == "op"
    assert dict(span.attributes or {}) == {}
