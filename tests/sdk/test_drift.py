"""The SDK against the committed OpenAPI document: fails when they drift apart.

Keyed on what partners depend on (paths, methods, body and resource field names), not on
operation ids or component names, which may be renamed without changing the wire format:
- every path + method of the document is either covered by an SDK method or listed, with a
  reason, as deliberately not covered; and every covered one still exists;
- every SDK method sending a JSON body takes exactly the body's fields as keywords (for a PATCH,
  its ``**changes`` TypedDict); every read exactly the query parameters (its iterator the same
  without ``limit`` and ``cursor``);
- every model's fields are exactly the properties of the schema the API answers with;
- the sync client is the current translation of the async one (scripts/unasync.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import aftercare_client as sdk
import pytest
from aftercare_client import (
    AftercareClient,
    AsyncAftercareClient,
    Conflict,
    ConsentRequired,
    InsufficientScope,
)

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT: dict[str, Any] = json.loads((ROOT / "openapi" / "openapi.json").read_text())
METHODS = ("get", "put", "post", "patch", "delete")

# "METHOD path" -> the SDK method (on both clients) that calls it.
COVERED = {
    "GET /v1/organizations": "organizations.search",
    "GET /v1/organizations/me": "organizations.me",
    "PATCH /v1/organizations/me": "organizations.update_me",
    "GET /v1/organizations/{org_id}": "organizations.get",
    "GET /v1/cases": "cases.list",
    "POST /v1/cases": "cases.create",
    "GET /v1/cases/{case_id}": "cases.get",
    "PATCH /v1/cases/{case_id}": "cases.update",
    "POST /v1/cases/{case_id}/close": "cases.close",
    "DELETE /v1/cases/{case_id}/survivor-identity": "cases.erase_identity",
    "GET /v1/cases/{case_id}/care-plan": "cases.care_plan",
    "GET /v1/cases/{case_id}/consents": "consents.list",
    "POST /v1/cases/{case_id}/consents": "consents.create",
    "GET /v1/cases/{case_id}/consents/{consent_id}": "consents.get",
    "POST /v1/cases/{case_id}/consents/{consent_id}/revoke": "consents.revoke",
    "GET /v1/cases/{case_id}/updates": "updates.list",
    "POST /v1/cases/{case_id}/updates": "updates.post",
    "GET /v1/cases/{case_id}/updates/{update_id}": "updates.get",
    "GET /v1/referrals": "referrals.list",
    "POST /v1/referrals": "referrals.create",
    "GET /v1/referrals/{referral_id}": "referrals.get",
    "POST /v1/referrals/{referral_id}/accept": "referrals.accept",
    "POST /v1/referrals/{referral_id}/decline": "referrals.decline",
    "POST /v1/referrals/{referral_id}/start": "referrals.start",
    "POST /v1/referrals/{referral_id}/complete": "referrals.complete",
    "POST /v1/referrals/{referral_id}/fail": "referrals.fail",
    "POST /v1/referrals/{referral_id}/withdraw": "referrals.withdraw",
    "GET /v1/events": "events.list",
    "GET /v1/webhooks": "webhooks.list",
    "POST /v1/webhooks": "webhooks.create",
    "GET /v1/webhooks/{webhook_id}": "webhooks.get",
    "PATCH /v1/webhooks/{webhook_id}": "webhooks.update",
    "DELETE /v1/webhooks/{webhook_id}": "webhooks.delete",
    "POST /v1/webhooks/{webhook_id}/rotate-secret": "webhooks.rotate_secret",
    "POST /v1/webhooks/{webhook_id}/test": "webhooks.test",
    "GET /v1/webhooks/{webhook_id}/deliveries": "webhooks.deliveries",
    "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry": "webhooks.retry",
    "GET /v1/cases/{case_id}/goals": "goals.list",
    "POST /v1/cases/{case_id}/goals": "goals.create",
    "GET /v1/cases/{case_id}/goals/{goal_id}": "goals.get",
    "POST /v1/cases/{case_id}/goals/{goal_id}/progress": "goals.progress",
    "GET /v1/cases/{case_id}/services": "services.list",
    "POST /v1/cases/{case_id}/services": "services.create",
    "GET /v1/cases/{case_id}/services/{service_id}": "services.get",
    "PATCH /v1/cases/{case_id}/services/{service_id}": "services.update",
    "GET /v1/services/scheduled": "services.scheduled",
    "GET /v1/cases/{case_id}/access-log": "cases.access_log",
    "GET /v1/cases/{case_id}/legal": "legal.get",
    "PUT /v1/cases/{case_id}/legal": "legal.replace",
    "GET /v1/legal/testimony": "legal.testimony",
    "GET /v1/cases/{case_id}/placements": "placements.list",
    "POST /v1/cases/{case_id}/placements": "placements.create",
    "POST /v1/cases/{case_id}/placements/{placement_id}/end": "placements.end",
    "POST /v1/cases/{case_id}/home-reviews": "placements.review_home",
    "POST /v1/cases/{case_id}/placements/{placement_id}/visits": "placements.visit",
    "GET /v1/placements/overdue-visits": "placements.overdue_visits",
    "POST /v1/cases/{case_id}/follow-ups": "follow_ups.schedule",
    "POST /v1/cases/{case_id}/follow-ups/{follow_up_id}/record": "follow_ups.record",
    "GET /v1/follow-ups": "follow_ups.due",
    "GET /v1/reports/summary": "reports.summary",
}

# Lists also have an iterator that follows next_cursor.
ITERATORS = {
    "organizations.search": "organizations.iter",
    "cases.list": "cases.iter",
    "consents.list": "consents.iter",
    "updates.list": "updates.iter",
    "referrals.list": "referrals.iter",
    "events.list": "events.iter",
    "webhooks.list": "webhooks.iter",
    "webhooks.deliveries": "webhooks.iter_deliveries",
    "goals.list": "goals.iter",
    "services.list": "services.iter",
    "services.scheduled": "services.iter_scheduled",
    "cases.access_log": "cases.iter_access_log",
    "legal.testimony": "legal.iter_testimony",
    "placements.list": "placements.iter",
    "placements.overdue_visits": "placements.iter_overdue_visits",
    "follow_ups.due": "follow_ups.iter_due",
}

# Deliberately not in the SDK; a path that is in neither list fails the test. What remains is not
# a partner's API: probes and metrics for the operator, OAuth plumbing the client does itself, and
# endpoints for resource servers checking tokens (not clients holding them).
NOT_COVERED = {
    "GET /healthz": "operations, not partners",
    "GET /readyz": "operations, not partners",
    "GET /metrics": "operations, not partners",
    "GET /.well-known/jwks.json": "for resource servers verifying tokens, not API clients",
    "GET /.well-known/oauth-authorization-server": "discovery; the SDK knows the endpoints",
    "POST /oauth/token": "used internally by every client (access_token())",
    "POST /oauth/revoke": "token housekeeping; the SDK's tokens simply expire",
    "POST /oauth/introspect": "for resource servers",
}

# Model -> the operation whose success answer is that resource (or a page of it).
MODELS: dict[type[Any], str] = {
    sdk.Organization: "GET /v1/organizations/{org_id}",
    sdk.Case: "GET /v1/cases/{case_id}",
    sdk.Consent: "GET /v1/cases/{case_id}/consents/{consent_id}",
    sdk.TimelineUpdate: "GET /v1/cases/{case_id}/updates/{update_id}",
    sdk.Referral: "GET /v1/referrals/{referral_id}",
    sdk.Event: "GET /v1/events",
    sdk.Webhook: "GET /v1/webhooks/{webhook_id}",
    sdk.WebhookWithSecret: "POST /v1/webhooks",
    sdk.WebhookSecret: "POST /v1/webhooks/{webhook_id}/rotate-secret",
    sdk.Delivery: "GET /v1/webhooks/{webhook_id}/deliveries",
    sdk.WebhookPing: "POST /v1/webhooks/{webhook_id}/test",
    sdk.QueuedDelivery: "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    sdk.Goal: "GET /v1/cases/{case_id}/goals/{goal_id}",
    sdk.ServiceRecord: "GET /v1/cases/{case_id}/services/{service_id}",
    sdk.CarePlan: "GET /v1/cases/{case_id}/care-plan",
    sdk.ScheduledService: "GET /v1/services/scheduled",
    sdk.AccessLogEntry: "GET /v1/cases/{case_id}/access-log",
    sdk.LegalRecord: "GET /v1/cases/{case_id}/legal",
    sdk.TestimonyRow: "GET /v1/legal/testimony",
    sdk.Placement: "GET /v1/cases/{case_id}/placements",
    sdk.HomeReview: "POST /v1/cases/{case_id}/home-reviews",
    sdk.Visit: "POST /v1/cases/{case_id}/placements/{placement_id}/visits",
    sdk.OverdueVisit: "GET /v1/placements/overdue-visits",
    sdk.FollowUp: "POST /v1/cases/{case_id}/follow-ups",
    sdk.DueFollowUp: "GET /v1/follow-ups",
    sdk.ReportSummary: "GET /v1/reports/summary",
}
# Nested model -> (its parent model, the parent's field holding it).
NESTED: dict[type[Any], tuple[type[Any], str]] = {
    sdk.Capacity: (sdk.Organization, "capacity"),
    sdk.Populations: (sdk.Organization, "populations"),
    sdk.Survivor: (sdk.Case, "survivor"),
    sdk.Guardian: (sdk.Case, "guardian"),
    sdk.Exploitation: (sdk.Case, "exploitation"),
    sdk.Preview: (sdk.Referral, "preview"),
    sdk.Subject: (sdk.Event, "subject"),
    sdk.Progress: (sdk.Goal, "progress"),
    sdk.Code: (sdk.ServiceRecord, "codes"),
    sdk.Attendance: (sdk.CarePlan, "attendance"),
    sdk.LegalDocument: (sdk.LegalRecord, "documents"),
    sdk.Testimony: (sdk.LegalRecord, "testimony"),
    sdk.Prosecution: (sdk.LegalRecord, "prosecution"),
    sdk.ImmigrationRelief: (sdk.LegalRecord, "immigration_relief"),
    sdk.ReportPeriod: (sdk.ReportSummary, "period"),
    sdk.CasesReport: (sdk.ReportSummary, "cases"),
    sdk.ReferralsReport: (sdk.ReportSummary, "referrals_sent"),
    sdk.PlacementsReport: (sdk.ReportSummary, "placements"),
    sdk.FollowUpsReport: (sdk.ReportSummary, "follow_ups"),
    sdk.ReportCount: (sdk.CasesReport, "opened"),
    sdk.ReportCell: (sdk.CasesReport, "by_age_band"),
}


# Nested request shapes (TypedDicts) -> (the operation, the path of fields to the shape).
INPUTS: dict[type[Any], tuple[str, tuple[str, ...]]] = {
    sdk.SurvivorIn: ("POST /v1/cases", ("survivor",)),
    sdk.GuardianIn: ("POST /v1/cases", ("guardian",)),
    sdk.ExploitationIn: ("POST /v1/cases", ("exploitation",)),
    sdk.ContactIn: ("POST /v1/cases", ("survivor", "contact")),
    sdk.SurvivorPatch: ("PATCH /v1/cases/{case_id}", ("survivor",)),
    sdk.CodeIn: ("POST /v1/cases/{case_id}/services", ("codes",)),
    sdk.CapacityIn: ("PATCH /v1/organizations/me", ("capacity",)),
    sdk.PopulationsPatch: ("PATCH /v1/organizations/me", ("populations",)),
    sdk.LegalDocumentIn: ("PUT /v1/cases/{case_id}/legal", ("documents",)),
    sdk.TestimonyIn: ("PUT /v1/cases/{case_id}/legal", ("testimony",)),
    sdk.ProsecutionIn: ("PUT /v1/cases/{case_id}/legal", ("prosecution",)),
    sdk.ImmigrationReliefIn: ("PUT /v1/cases/{case_id}/legal", ("immigration_relief",)),
}


def operations() -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in METHODS
    }


def operation(key: str) -> dict[str, Any]:
    method, path = key.split(" ", 1)
    found: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]
    return found


def deref(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref, and unwrap "X or null", arrays and maps down to the object schema."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = DOCUMENT["components"]["schemas"][name]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        elif schema.get("type") == "array":
            schema = schema["items"]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def answer_schema(key: str) -> dict[str, Any]:
    responses = operation(key)["responses"]
    success = next(responses[s] for s in ("200", "201", "202") if s in responses)
    schema = deref(success["content"]["application/json"]["schema"])
    props = schema.get("properties", {})
    if "items" in props and "next_cursor" in props:  # a page: the items' schema
        schema = deref(props["items"])
    return schema


def schema_for(model: type[Any]) -> dict[str, Any]:
    if model in MODELS:
        return answer_schema(MODELS[model])
    parent, name = NESTED[model]
    return deref(schema_for(parent)["properties"][name])


def sdk_method(client: type[Any], dotted: str) -> Any:
    area, name = dotted.split(".")
    source = inspect.getsource(client.__init__)
    match = re.search(rf"self\.{area} = (\w+)\(self\)", source)
    assert match, f"{client.__name__} has no {area}"
    area_class = getattr(sys.modules[client.__module__], match.group(1))
    method = getattr(area_class, name, None)
    assert method is not None, f"{client.__name__}.{dotted} is missing"
    return method


def test_every_operation_is_covered_or_deliberately_left_out() -> None:
    in_document = operations()
    unknown = sorted(in_document - COVERED.keys() - NOT_COVERED.keys())
    assert not unknown, (
        f"operations the SDK does not cover (add them, or to NOT_COVERED): {unknown}"
    )
    gone = sorted((COVERED.keys() | NOT_COVERED.keys()) - in_document)
    assert not gone, f"operations no longer in the document: {gone}"


@pytest.mark.parametrize("client", [AsyncAftercareClient, AftercareClient])
def test_covered_operations_have_their_methods(client: type[Any]) -> None:
    for dotted in [*COVERED.values(), *ITERATORS.values()]:
        sdk_method(client, dotted)


@pytest.mark.parametrize("key", sorted(COVERED))
def test_request_bodies_match_the_sdk_keywords(key: str) -> None:
    body = operation(key).get("requestBody", {}).get("content", {}).get("application/json")
    method = sdk_method(AsyncAftercareClient, COVERED[key])
    path_params = set(re.findall(r"{(\w+)}", key))
    parameters = inspect.signature(method).parameters
    keywords: set[str] = set()
    for name, param in parameters.items():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            hints = typing.get_type_hints(method, include_extras=True)
            (shape,) = typing.get_args(hints[name])
            keywords |= set(typing.get_type_hints(shape))
        elif name not in {"self", "version", "idempotency_key", *path_params}:
            keywords.add(name)
    if body is None:
        assert not keywords or key.startswith("GET "), f"{key} takes no body: {keywords}"
        return
    fields = set(deref(body["schema"]).get("properties", {}))
    assert keywords == fields, (
        f"{COVERED[key]}: SDK {sorted(keywords)} != document {sorted(fields)}"
    )


def keyword_only(method: Any) -> set[str]:
    parameters = inspect.signature(method).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


@pytest.mark.parametrize("key", sorted(k for k in COVERED if k.startswith("GET ")))
def test_query_parameters_match_the_sdk_keywords(key: str) -> None:
    """A read takes exactly the operation's query parameters; its iterator the same without
    ``limit`` and ``cursor`` (it pages itself; the event stream keeps ``limit``, its page size)."""
    query = {p["name"] for p in operation(key).get("parameters", []) if p["in"] == "query"}
    method = sdk_method(AsyncAftercareClient, COVERED[key])
    assert keyword_only(method) == query, COVERED[key]
    iterator = ITERATORS.get(COVERED[key])
    if iterator is not None:
        kept = {"limit"} if iterator == "events.iter" else set()
        expected = query - ({"limit", "cursor"} - kept)
        assert keyword_only(sdk_method(AsyncAftercareClient, iterator)) == expected, iterator


@pytest.mark.parametrize("model", [*MODELS, *NESTED], ids=lambda m: m.__name__)
def test_model_fields_match_the_document(model: type[Any]) -> None:
    fields = {f.name for f in dataclasses.fields(model)}
    properties = set(schema_for(model).get("properties", {}))
    assert fields == properties, (
        f"{model.__name__}: only in the SDK {sorted(fields - properties)}, "
        f"only in the document {sorted(properties - fields)}"
    )


@pytest.mark.parametrize("shape", list(INPUTS), ids=lambda s: s.__name__)
def test_nested_request_shapes_match_the_document(shape: type[Any]) -> None:
    key, trail = INPUTS[shape]
    schema = deref(operation(key)["requestBody"]["content"]["application/json"]["schema"])
    for name in trail:
        schema = deref(schema["properties"][name])
    fields = set(typing.get_type_hints(shape))
    assert fields == set(schema.get("properties", {})), shape.__name__


def test_problem_fields_match_the_document() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    if "Problem" not in schemas:
        pytest.skip("the document has no shared Problem schema yet")
    known = {"type", "title", "status", "detail", "code", "errors"}
    # The members some codes add, each a property of the SDK's exception for that code.
    exposed = {
        "required_scopes": InsufficientScope,
        "uncovered_categories": ConsentRequired,
        "existing_id": Conflict,
    }
    for member, exception in exposed.items():
        assert isinstance(getattr(exception, member, None), property), member
    extra = set(schemas["Problem"].get("properties", {})) - known - set(exposed)
    # Anything else the document adds reaches Problem.extra; name it here once the SDK exposes it.
    assert extra <= {"instance", "request_id"}, f"Problem fields the SDK does not expose: {extra}"


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    script = ROOT / "clients" / "python" / "scripts" / "unasync.py"
    done = subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
