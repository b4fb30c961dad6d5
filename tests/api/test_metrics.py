"""GET /metrics: Prometheus text, request counts by route template, no ids in labels."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import Partner


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    await client.get("/v1/cases/00000000-0000-0000-0000-000000000000", headers=lead.headers)
    await client.get(f"/no/such/path/{case['id']}")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    counts = {
        (labels["method"], labels["route"], labels["status"]): value
        for name, labels, value in got
        if name == "aftercare_http_requests_total"
    }
    assert counts[("GET", "/v1/cases/{case_id}", "200")] == 2
    assert counts[("GET", "/v1/cases/{case_id}", "404")] == 1
    assert counts[("GET", "unmatched", "404")] == 1
    assert any(n == "aftercare_http_request_duration_seconds_bucket" for n, _, _ in got)
    # No concrete path, id or survivor data in any label.
    for _name, labels, _value in got:
        for value in labels.values():
            assert case["id"] not in value and "0000-0000" not in value
    names = {n for n, _, _ in got}
    assert {
        "aftercare_db_pool_connections",
        "aftercare_webhook_deliveries_pending",
        "aftercare_webhook_delivery_lag_seconds",
    } <= names


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/healthz")
    text = (await client.get("/metrics")).text
    methods = {
        labels["method"]
        for name, labels, _ in samples(text)
        if name == "aftercare_http_requests_total"
    }
    assert "BREW" not in methods and "OTHER" in methods
