"""What FastAPI does not write into ``openapi/openapi.json`` by itself (CONTRACT "HTTP details"):
named operation ids, one shared ``Problem`` schema, the security schemes, the headers and status
codes the middleware adds, request examples, ``servers``, license and contact.

``operation_id`` names every route (``generate_unique_id_function``); ``finish`` post-processes
the generated document. Both are pure: the drift test and Schemathesis hold them to the server.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.json_body import ACCEPTED_BY_METHOD
from app.api.middleware import MAX_TARGET_BYTES
from app.api.oauth import is_oauth
from app.api.problems import PROBLEM_JSON
from app.api.schemas.common import ResponseModel

# Every route, by method and path template, and the name partners' generated clients will use.
OPERATION_IDS: dict[str, str] = {
    "GET /healthz": "getHealth",
    "GET /readyz": "getReadiness",
    "GET /metrics": "getMetrics",
    "GET /.well-known/jwks.json": "getJwks",
    "GET /.well-known/oauth-authorization-server": "getAuthorizationServerMetadata",
    "POST /oauth/token": "createToken",
    "POST /oauth/revoke": "revokeToken",
    "POST /oauth/introspect": "introspectToken",
    "GET /v1/organizations": "listOrganizations",
    "GET /v1/organizations/me": "getMyOrganization",
    "PATCH /v1/organizations/me": "updateMyOrganization",
    "GET /v1/organizations/{org_id}": "getOrganization",
    "GET /v1/cases": "listCases",
    "POST /v1/cases": "createCase",
    "GET /v1/cases/{case_id}": "getCase",
    "PATCH /v1/cases/{case_id}": "updateCase",
    "POST /v1/cases/{case_id}/close": "closeCase",
    "DELETE /v1/cases/{case_id}/survivor-identity": "eraseSurvivorIdentity",
    "GET /v1/cases/{case_id}/access-log": "listAccessLog",
    "GET /v1/cases/{case_id}/consents": "listConsents",
    "POST /v1/cases/{case_id}/consents": "createConsent",
    "GET /v1/cases/{case_id}/consents/{consent_id}": "getConsent",
    "POST /v1/cases/{case_id}/consents/{consent_id}/revoke": "revokeConsent",
    "GET /v1/cases/{case_id}/updates": "listUpdates",
    "POST /v1/cases/{case_id}/updates": "createUpdate",
    "GET /v1/cases/{case_id}/updates/{update_id}": "getUpdate",
    "GET /v1/cases/{case_id}/legal": "getLegal",
    "PUT /v1/cases/{case_id}/legal": "replaceLegal",
    "GET /v1/legal/testimony": "listTestimonyStatus",
    "GET /v1/cases/{case_id}/placements": "listPlacements",
    "POST /v1/cases/{case_id}/placements": "createPlacement",
    "POST /v1/cases/{case_id}/placements/{placement_id}/end": "endPlacement",
    "POST /v1/cases/{case_id}/placements/{placement_id}/visits": "createVisit",
    "POST /v1/cases/{case_id}/home-reviews": "createHomeReview",
    "GET /v1/placements/overdue-visits": "listOverdueVisits",
    "POST /v1/cases/{case_id}/follow-ups": "scheduleFollowUp",
    "POST /v1/cases/{case_id}/follow-ups/{follow_up_id}/record": "recordFollowUp",
    "GET /v1/follow-ups": "listDueFollowUps",
    "GET /v1/cases/{case_id}/care-plan": "getCarePlan",
    "GET /v1/cases/{case_id}/goals": "listGoals",
    "POST /v1/cases/{case_id}/goals": "createGoal",
    "GET /v1/cases/{case_id}/goals/{goal_id}": "getGoal",
    "POST /v1/cases/{case_id}/goals/{goal_id}/progress": "recordGoalProgress",
    "GET /v1/cases/{case_id}/services": "listServices",
    "POST /v1/cases/{case_id}/services": "createService",
    "GET /v1/cases/{case_id}/services/{service_id}": "getService",
    "PATCH /v1/cases/{case_id}/services/{service_id}": "updateService",
    "GET /v1/services/scheduled": "listScheduledServices",
    "GET /v1/referrals": "listReferrals",
    "POST /v1/referrals": "createReferral",
    "GET /v1/referrals/{referral_id}": "getReferral",
    "POST /v1/referrals/{referral_id}/accept": "acceptReferral",
    "POST /v1/referrals/{referral_id}/decline": "declineReferral",
    "POST /v1/referrals/{referral_id}/start": "startReferral",
    "POST /v1/referrals/{referral_id}/complete": "completeReferral",
    "POST /v1/referrals/{referral_id}/fail": "failReferral",
    "POST /v1/referrals/{referral_id}/withdraw": "withdrawReferral",
    "GET /v1/events": "listEvents",
    "GET /v1/reports/summary": "getReportSummary",
    "GET /v1/webhooks": "listWebhooks",
    "POST /v1/webhooks": "createWebhook",
    "GET /v1/webhooks/{webhook_id}": "getWebhook",
    "PATCH /v1/webhooks/{webhook_id}": "updateWebhook",
    "DELETE /v1/webhooks/{webhook_id}": "deleteWebhook",
    "POST /v1/webhooks/{webhook_id}/rotate-secret": "rotateWebhookSecret",
    "POST /v1/webhooks/{webhook_id}/test": "testWebhook",
    "GET /v1/webhooks/{webhook_id}/deliveries": "listWebhookDeliveries",
    "POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry": "retryWebhookDelivery",
}


def operation_id(route: APIRoute) -> str:
    """The operation id of a route (FastAPI's ``generate_unique_id_function``). A new route
    must be named in ``OPERATION_IDS``; a test fails otherwise."""
    method = sorted((route.methods or set()) - {"HEAD"})[0]
    key = f"{method} {route.path_format}"
    try:
        return OPERATION_IDS[key]
    except KeyError:
        # Not a route of the document (the GraphQL IDE) or not yet named: a readable fallback
        # that the test catches for document routes.
        return f"unnamed:{key}"


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}

PROBLEM_SCHEMAS: dict[str, Any] = {
    "Problem": {
        "title": "Problem",
        "description": "Problem details (RFC 9457) with a stable machine-readable `code`; "
        "validation problems (422) list the fields in `errors`, never the rejected values.",
        "type": "object",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {
                "type": "string",
                "description": "`urn:aftercare:problem:<code>`",
                "example": "urn:aftercare:problem:validation_error",
            },
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 100, "maximum": 599},
            "detail": {"type": "string"},
            "code": {
                "type": "string",
                "description": "Stable error code (`validation_error`, `not_found`, "
                "`precondition_required`, `rate_limited`, ...)",
            },
            "errors": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/ProblemError"},
            },
            # The members some codes add (app.domain.errors: a DomainError's extras).
            "required_scopes": {
                "type": "array",
                "items": {"type": "string"},
                "description": "With `insufficient_scope`: the scopes the request needs",
            },
            "uncovered_categories": {
                "type": "array",
                "items": {"type": "string"},
                "description": "With `consent_required`: the data categories the referral "
                "would share that no active consent covers",
            },
            "existing_id": {
                "type": "string",
                "format": "uuid",
                "description": "With `conflict` for a duplicate `external_ref`: the case that "
                "already uses it",
            },
        },
    },
    "OAuthError": {
        "title": "OAuthError",
        "description": "An OAuth 2.0 error (RFC 6749 §5.2)",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "string",
                "example": "invalid_client",
                "description": "`invalid_request`, `invalid_client`, `invalid_grant`, "
                "`unauthorized_client`, `unsupported_grant_type`, `invalid_scope` or "
                "`rate_limited`",
            },
            "error_description": {"type": "string"},
        },
    },
    "ProblemError": {
        "title": "ProblemError",
        "type": "object",
        "required": ["loc", "msg"],
        "properties": {
            "loc": {
                "type": "array",
                "description": "Where: `body`, `query`, `header` or `path`, then field names "
                "and list indexes",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"type": "string"},
            "type": {"type": ["string", "null"]},
        },
    },
}

_STRING = {"schema": {"type": "string"}}
HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request id: yours when it matched `[A-Za-z0-9._-]{8,64}`, else a "
        "new one. Quote it when reporting a problem.",
        **_STRING,
    },
    "ETag": {"description": "The version of the resource, for `If-Match`", **_STRING},
    "Location": {"description": "Where the created resource is read", **_STRING},
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    },
    "WWW-Authenticate": {
        "description": 'The authentication challenge (RFC 6750): `Bearer error="invalid_token"` '
        'on a 401, `Bearer error="insufficient_scope", scope="…"` on a 403',
        **_STRING,
    },
    **{
        header: {"description": f"What a `{method}` body is read as: `{value}`", **_STRING}
        for method, (header, value) in ACCEPTED_BY_METHOD.items()
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with the "
        "same `Idempotency-Key`",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "RateLimit": {
        "description": 'Your remaining quota (IETF draft), e.g. `"default";r=599;t=42`',
        **_STRING,
    },
    "RateLimit-Policy": {
        "description": 'The quota policy (IETF draft), e.g. `"default";q=600;w=60`',
        **_STRING,
    },
    "Cache-Control": {
        "description": "`no-store`: the answer may carry case data or tokens, so no cache (proxy "
        "or browser) may keep it",
        "schema": {"type": "string", "enum": ["no-store"]},
    },
    "Pragma": {
        "description": "`no-cache`, for HTTP/1.0 caches (RFC 6749 §5.1)",
        "schema": {"type": "string", "enum": ["no-cache"]},
    },
}
# Where the server sends `Cache-Control: no-store` (app.api.middleware, app.api.health): every
# answer under these prefixes, and these paths. The public documents under /.well-known/ declare
# their own (app.api.oauth).
NO_STORE_PREFIXES = ("/v1/", "/oauth/")
NO_STORE_PATHS = ("/metrics",)
# The /oauth answers written by app.api.oauth (tokens and RFC 6749 errors) add `Pragma: no-cache`.
PRAGMA_STATUSES = frozenset({200, 400, 401, 413, 429})
# Creates whose resource has no address of its own to read it at (there is no GET for a home
# review or a visit, nor for one follow-up): their 201 sends no `Location`.
NO_LOCATION = frozenset({"createHomeReview", "createVisit", "scheduleFollowUp"})

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /oauth/token` (client credentials grant).",
    },
    "clientBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "Client authentication at `/oauth/*` (RFC 6749 §2.3.1): client id and "
        "secret, each form-urlencoded, as HTTP Basic credentials. Alternatively send "
        "`client_id` and `client_secret` as form fields (no `Authorization` header).",
    },
}

# Rules JSON Schema cannot state (between fields, against the clock, against stored data): each
# answered with 422 `validation_error` naming the field, and stated in the operation's description.
RULES: dict[str, tuple[str, ...]] = {
    "createCase": (
        "exactly one of `survivor.date_of_birth` and `survivor.estimated_birth_year`",
        "dates of birth and `exploitation.identified_on` are plausible and not in the future",
        "a minor's case needs a `guardian`",
    ),
    "updateCase": (
        "after the merge, exactly one of `survivor.date_of_birth` and "
        "`survivor.estimated_birth_year`",
        "dates are plausible and not in the future; a minor's case keeps a `guardian`",
    ),
    "createConsent": (
        "`obtained_at` is not in the future; `expires_at` is after `obtained_at`",
        "a recipient is either `recipient_org_id` or `recipient_kinds` as the contract says",
    ),
    "createUpdate": (
        "`occurred_at` is not in the future",
        "`supersedes` names an update of this case",
        "you may write in `category`",
    ),
    "createPlacement": (
        "`started_at` is not in the future",
        "a community-family or foster placement names an approved `home_review_id` of this case",
    ),
    "endPlacement": ("`ended_at` lies between the start of the placement and now",),
    "createVisit": (
        "visits are recorded on community-family and foster placements",
        "`visited_at` lies between the start of the placement and now",
    ),
    "createHomeReview": ("`reviewed_at` is not in the future",),
    "scheduleFollowUp": ("the date is plausible",),
    "recordFollowUp": ("`contacted_at` is not in the future",),
    "createGoal": ("`owner_org_id` is the case's lead or a current care-team member",),
    "recordGoalProgress": ("`recorded_at` is not in the future",),
    "createService": (
        "a scheduled service has not occurred yet (no `occurred_at`); a missed one needs "
        "`scheduled_at`; times are not in the future unless scheduled",
        "`provider_org_id` is the case's lead or a current care-team member",
        "`goal_id` names a goal of this case in the same category",
    ),
    "updateService": ("the same status and time rules as `createService`, after the change",),
    "createReferral": (
        "`respond_by` is in the future",
        "a referral goes to another organisation that exists (`to_org_id`)",
    ),
    "createWebhook": (
        "`url` is `https://` (`http://` outside production) and its host resolves to public "
        "addresses only",
        "event types are known names or `*`",
    ),
    "updateWebhook": ("the same `url` and event type rules as `createWebhook`",),
    "getReportSummary": (
        "`end_month` has ended; `start_month` is not after it, nor before 2000-01; at most "
        "120 months",
    ),
}

# OpenAPI links from each create to the reads of what it made (and Schemathesis's stateful phase).
_IN_CASE = "$request.path.case_id"
LINKS: dict[str, dict[str, dict[str, str]]] = {
    "createCase": {
        "getCase": {"case_id": "$response.body#/id"},
        "getCarePlan": {"case_id": "$response.body#/id"},
        "listConsents": {"case_id": "$response.body#/id"},
        "createConsent": {"case_id": "$response.body#/id"},
        "createGoal": {"case_id": "$response.body#/id"},
        "createUpdate": {"case_id": "$response.body#/id"},
    },
    "createConsent": {"getConsent": {"case_id": _IN_CASE, "consent_id": "$response.body#/id"}},
    "createUpdate": {"getUpdate": {"case_id": _IN_CASE, "update_id": "$response.body#/id"}},
    "createGoal": {"getGoal": {"case_id": _IN_CASE, "goal_id": "$response.body#/id"}},
    "createService": {"getService": {"case_id": _IN_CASE, "service_id": "$response.body#/id"}},
    "createReferral": {"getReferral": {"referral_id": "$response.body#/id"}},
    "createWebhook": {
        "getWebhook": {"webhook_id": "$response.body#/id"},
        "listWebhookDeliveries": {"webhook_id": "$response.body#/id"},
    },
}

PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics", "/.well-known/")
IDEMPOTENCY_KEY_PATTERN = "^[!-~]{1,255}$"

# Request examples, one per request body (Swagger UI and ReDoc show them; Schemathesis sends them).
# Fictional people and organisations only. Each is accepted as it stands by its operation's
# request model, and together they make one case's journey (tests/api/test_openapi_examples.py
# posts them in turn, with the ids of what it made before). Times lie in the past, so that the
# examples of the "not in the future" rules (RULES) stay valid on any later day; the one rule
# that needs a future time (`createReferral`'s `respond_by`) is left out of its example.
_EXAMPLE_CASE_ID = "0d6f3a52-1a8b-4c52-9f50-6e1f2b1c2a10"
_EXAMPLE_LEAD_ORG_ID = "2f8c1d6e-3a4b-4e5f-9a0b-1c2d3e4f5a61"
_EXAMPLE_RECEIVER_ORG_ID = "7b1e2c44-5b7a-4c1d-8e8b-2a6f9c3d4e51"
_EXAMPLE_FAMILY_ORG_ID = "9a3e5c71-2b4d-4f6a-8c1e-3d5f7a9b1c23"
_EXAMPLE_HOME_REVIEW_ID = "4c7e9a12-6d3b-4f8e-a1c5-7b9d2e4f6a83"
_EXAMPLE_GOAL_ID = "6e2a4c8f-1b3d-4a5e-9f7c-2d4b6a8e0c45"
_EXAMPLE_JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6Il9ZTUZr…"

REQUEST_EXAMPLES: dict[str, Any] = {
    # The token endpoints take form fields; the client authenticates with HTTP Basic.
    "createToken": {"grant_type": "client_credentials", "scope": "cases:read referrals:write"},
    "revokeToken": {"token": _EXAMPLE_JWT, "token_type_hint": "access_token"},
    "introspectToken": {"token": _EXAMPLE_JWT, "token_type_hint": "access_token"},
    "updateMyOrganization": {
        "languages": ["en", "th", "my"],
        "populations": {"genders": ["female"]},
        "capacity": [{"service": "shelter", "available": 3, "maximum": 12}],
    },
    "createCase": {
        "external_ref": "SHELTER-2026-0142",
        "survivor": {
            "given_name": "Ana",
            "estimated_birth_year": 1999,
            "gender": "female",
            "languages": ["es", "en"],
            "interpreter_needed": False,
        },
        "exploitation": {"types": ["labour"], "country": "MX"},
        "needs": ["shelter", "legal"],
    },
    "updateCase": {
        "survivor": {"languages": ["es", "en", "th"], "interpreter_needed": True},
        "needs": ["shelter", "legal", "counseling"],
        "risk_level": "medium",
    },
    "createConsent": {
        "granted_by": ["survivor"],
        "recipient_org_id": _EXAMPLE_RECEIVER_ORG_ID,
        "categories": ["medical", "counseling"],
        "purpose": "Medical check-up and trauma counselling at the receiving shelter",
        "obtained_at": "2026-11-16T09:30:00+07:00",
        "expires_at": "2027-11-16T09:30:00+07:00",
        "evidence_ref": "Signed consent form CF-2026-0142 (paper file)",
    },
    "revokeConsent": {"reason": "Ana withdrew her consent by phone"},
    "createUpdate": {
        "kind": "note",
        "category": "general",
        "occurred_at": "2026-11-25T16:00:00+07:00",
        "summary": "Weekly check-in: settling in well; asked for a Spanish-speaking counsellor",
        "details": {"contact": "in_person", "duration_minutes": 45},
    },
    "replaceLegal": {
        "documents": [{"type": "passport", "status": "retrieval_in_progress"}],
        "testimony": {"status": "in_preparation", "protective_measures": ["video_link"]},
        "prosecution": {"status": "investigation"},
        "immigration_relief": {"type": "Temporary residence permit", "status": "applied"},
    },
    "createHomeReview": {
        "reviewed_at": "2026-11-18T14:00:00+07:00",
        "result": "approved",
        "notes": "Met the host family at home: a room of her own, a bus to the course nearby",
    },
    "createPlacement": {
        "org_id": _EXAMPLE_FAMILY_ORG_ID,
        "setting": "community_family",
        "started_at": "2026-11-20T10:00:00+07:00",
        "home_review_id": _EXAMPLE_HOME_REVIEW_ID,
    },
    "createVisit": {
        "visited_at": "2026-11-27T15:30:00+07:00",
        "summary": "Visited Ana and the host family at home: she feels safe and started a "
        "cooking course",
    },
    "endPlacement": {"ended_at": "2026-11-29T12:00:00+07:00", "exit_reason": "independent_living"},
    "scheduleFollowUp": {"due_on": "2027-02-26"},
    "recordFollowUp": {"contacted_at": "2026-11-30T10:15:00+07:00", "outcome": "stable"},
    "createGoal": {
        "category": "counseling",
        "title": "Weekly trauma counselling",
        "description": "Twelve sessions with a Spanish-speaking counsellor",
        "owner_org_id": _EXAMPLE_LEAD_ORG_ID,
        "target_date": "2027-03-31",
    },
    "recordGoalProgress": {
        "status": "active",
        "note": "Attended 3 of the first 4 sessions",
        "recorded_at": "2026-11-28T17:00:00+07:00",
    },
    "createService": {
        "service": "counseling",
        "category": "counseling",
        "type": "session",
        "status": "scheduled",
        "scheduled_at": "2026-11-27T10:00:00+07:00",
        "provider_org_id": _EXAMPLE_LEAD_ORG_ID,
        "goal_id": _EXAMPLE_GOAL_ID,
        "notes": "Session 4 of 12",
    },
    "updateService": {
        "status": "attended",
        "occurred_at": "2026-11-27T10:05:00+07:00",
        "notes": "Session 4 of 12, with an interpreter",
    },
    "createReferral": {
        "case_id": _EXAMPLE_CASE_ID,
        "to_org_id": _EXAMPLE_RECEIVER_ORG_ID,
        "service": "shelter",
        "urgency": "high",
        "reason": "Needs a safe place to stay this week",
        "shared_categories": ["demographics"],
    },
    "acceptReferral": {},
    "declineReferral": {
        "reason_code": "no_capacity",
        "reason": "All beds are taken until mid-January",
    },
    "startReferral": {},
    "completeReferral": {
        "outcome_code": "service_provided",
        "outcome": "Stayed five weeks, then moved to a community family placement",
    },
    "failReferral": {
        "reason_code": "lost_contact",
        "reason": "Three calls and a home visit without reaching her",
    },
    "withdrawReferral": {"reason": "She chose a shelter closer to her sister"},
    "closeCase": {"reason": "Living independently; follow-ups done and no open services"},
    "createWebhook": {
        "url": "https://partner.example.org/aftercare/webhooks",
        "event_types": ["referral.accepted", "referral.declined"],
    },
    "updateWebhook": {
        "event_types": ["referral.accepted", "referral.declined", "referral.completed"],
        "description": "Case management system (production)",
    },
}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}


def _header_refs(*names: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        ref = {"$ref": f"#/components/headers/{name}"}
        out[name] = ref if name not in required else {**HEADERS[name], "required": True}
    return out


def _error(description: str, *headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _problem_content()}
    if headers:
        response["headers"] = _header_refs(*headers)
    return response


def finish(document: dict[str, Any], scopes: dict[str, str]) -> dict[str, Any]:
    """The generated document made true (see the module docstring)."""
    doc = copy.deepcopy(document)
    doc["openapi"] = doc.get("openapi", "3.1.0")
    doc["info"]["license"] = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}
    doc["info"]["contact"] = {
        "name": "Aftercare Exchange operators",
        "email": "hub-operators@aftercare.example.org",
    }
    doc["servers"] = [{"url": "/", "description": "This hub (the host serving this document)"}]
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for schema in schemas.values():
        _no_nul(schema)
    for name, required in OAUTH_REQUIRED_FIELDS.items():
        # The handlers read the form themselves and answer a missing field 400
        # `invalid_request` (RFC 6749), so FastAPI declares every field optional and nullable.
        form = schemas[name]
        form["required"] = list(required)
        for field in required:
            declared = {k: v for k, v in form["properties"][field].items() if k != "anyOf"}
            declared |= {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN}
            if field == "grant_type":  # (a string, not an enum: clients built on it stay valid)
                declared["description"] = (
                    "`client_credentials`, the only grant (another is 400 `unsupported_grant_type`)"
                )
            form["properties"][field] = declared
    schemas.update(copy.deepcopy(PROBLEM_SCHEMAS))
    components["headers"] = copy.deepcopy(HEADERS)
    # FastAPI's OAuth2ClientCredentials scheme (the scopes each operation needs) stays.
    components.setdefault("securitySchemes", {}).update(copy.deepcopy(SECURITY_SCHEMES))

    versioned = _versioned_models()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            _finish_operation(path, method, op, versioned)
    return doc


# The form fields RFC 6749 / 7009 / 7662 require of the token endpoints.
OAUTH_REQUIRED_FIELDS = {
    "Body_createToken": ("grant_type",),
    "Body_revokeToken": ("token",),
    "Body_introspectToken": ("token",),
}
NO_NUL_PATTERN = "^[^\\u0000]*$"
# Request strings lose surrounding whitespace before their length is checked: one that must not
# be empty needs a character that is not whitespace.
NOT_BLANK_PATTERN = "^[^\\u0000]*[^\\u0000\\s][^\\u0000]*$"


def _no_nul(schema: Any) -> None:
    """Free text never holds NUL (PostgreSQL cannot store it; the server answers 422)."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NOT_BLANK_PATTERN if schema.get("minLength", 0) > 0 else NO_NUL_PATTERN
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for item in value.values():
                _no_nul(item)
        elif key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            _no_nul(value)


def _finish_operation(
    path: str, method: str, op: dict[str, Any], versioned: frozenset[str]
) -> None:
    api = path.startswith("/v1/")
    oauth = is_oauth(path)
    responses: dict[str, Any] = op.setdefault("responses", {})

    # Security.
    if path.startswith(PUBLIC_PATHS):
        op["security"] = []
    elif oauth:
        op["security"] = [{"clientBasic": []}, {}]
    elif "security" not in op:
        op["security"] = [{"bearerAuth": []}]
    elif {"bearerAuth": []} not in op["security"]:
        # The OAuth 2.0 requirement names the scopes; the bearer scheme is how a client that
        # already holds a token (or Swagger UI given one) sends it. Either satisfies.
        op["security"] = [*op["security"], {"bearerAuth": []}]

    # Parameters: never null (a query or header has no null); If-Match is required (its absence
    # is 428 Precondition Required everywhere it is read); Idempotency-Key bounded.
    for param in op.get("parameters", []):
        _not_null(param)
        if param["in"] == "header" and param["name"] == "If-Match":
            # Required to change (PATCH/PUT); optional to delete. Blank is 428 either way.
            param["required"] = method != "delete"
            param["schema"] = {"type": "string", "minLength": 1, "pattern": "\\S"}
            param["description"] = (
                "The ETag you last read (or `*`). Missing or blank: 428; malformed or not the "
                "current version: 412."
            )
            responses.setdefault("412", {})
            responses.setdefault("428", {})
        elif param["in"] == "header" and param["name"] == "Idempotency-Key":
            responses.setdefault("409", {})["description"] = (
                "Conflict: the change conflicts with the current state, or a request with the "
                "same `Idempotency-Key` is still being answered (`idempotency_in_flight`; retry "
                "it a moment later), or its first answer was erased with the survivor's identity "
                "(`idempotency_response_erased`; the first request succeeded: read the case)"
            )
            param["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": IDEMPOTENCY_KEY_PATTERN,
            }

    # Status codes the middleware and the shared dependencies answer with.
    has_body = "requestBody" in op
    if oauth and has_body:
        op["requestBody"]["required"] = True  # (OAUTH_REQUIRED_FIELDS: a field is required)
    responses.setdefault("414", {})  # every request (app.api.middleware)
    if api:
        responses.setdefault("401", {})
        responses.setdefault("403", {})
        responses.setdefault("429", {})
        responses.setdefault("503", {})
    if oauth:
        responses.setdefault("401", {})
        responses.setdefault("429", {})
        responses.setdefault("503", {})
    if has_body:
        responses.setdefault("400", {})
        responses.setdefault("413", {})
        if not oauth:
            responses.setdefault("415", {})
            responses.setdefault("422", {})
    if oauth:  # the token endpoints answer an unreadable form 400 (RFC 6749), never 422
        responses.pop("422", None)
    if path == "/readyz":
        responses.setdefault("503", {})

    for status, response in list(responses.items()):
        _finish_response(
            path, op, status, response, method=method, oauth=oauth, versioned=versioned
        )

    if method == "get" and _sends_etag(responses.get("200", {})):
        # What a 304 keeps of the 200 (app.api.middleware), and the headers of every answer.
        kept = ("Cache-Control",) if path.startswith(NO_STORE_PREFIXES) else ()
        limits = ("RateLimit", "RateLimit-Policy") if api else ()
        responses["304"] = {
            "description": "Not modified: `If-None-Match` names the current ETag",
            "headers": _header_refs("ETag", *kept, "X-Request-ID", *limits),
        }
        params = op.setdefault("parameters", [])
        if not any(p["name"] == "If-None-Match" for p in params):
            params.append(
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "ETags you hold; when one is current the answer is 304",
                    "schema": {"type": "string"},
                }
            )

    links = LINKS.get(op.get("operationId", ""))
    if links and "201" in responses:
        responses["201"]["links"] = {
            target: {"operationId": target, "parameters": parameters}
            for target, parameters in links.items()
        }
    if " ".join(op.get("description", "").split()) == op.get("summary"):
        # An endpoint's docstring is its summary (app.api.routes); FastAPI repeats it here.
        del op["description"]
    rules = RULES.get(op.get("operationId", ""))
    if rules:
        listed = "".join(f"\n- {rule}" for rule in rules)
        op["description"] = (
            op.get("description", "").rstrip()
            + "\n\nChecked beyond the schema (422 `validation_error`, `errors` naming the field):"
            + listed
        ).lstrip()
    example = REQUEST_EXAMPLES.get(op.get("operationId", ""))
    if example is not None:
        for media in op.get("requestBody", {}).get("content", {}).values():
            media["example"] = example
    op["responses"] = dict(sorted(responses.items()))


def _not_null(param: dict[str, Any]) -> None:
    schema = param.get("schema", {})
    options = schema.get("anyOf")
    if options is None:
        return
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) == 1:
        extra = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        if schema.get("default") is not None:
            extra["default"] = schema["default"]
        param["schema"] = {**rest[0], **extra}


_DESCRIPTIONS = {
    "412": "Precondition failed: `If-Match` is malformed or not the current version; read again",
    "400": "Bad request: a form body that cannot be parsed",
    "401": "Missing, expired or invalid credentials",
    "403": "The token lacks the scope this operation needs",
    "413": "The request body exceeds the configured limit",
    "414": f"The path and query exceed {MAX_TARGET_BYTES:,} bytes (`uri_too_long`)",
    "415": "The body is not `application/json`",
    "422": "Validation error: see `errors` (where and why, never the rejected value). A JSON "
    "body that is not UTF-8 or not exactly one JSON text is 422 `validation_error` too "
    "(`errors[].type` `json_invalid`).",
    "428": "`If-Match` is required: send the ETag you last read",
    "429": "Rate limited: retry after `Retry-After` seconds",
    "503": "The database is unavailable; nothing was changed. Retry after `Retry-After`.",
}


def _finish_response(
    path: str,
    op: dict[str, Any],
    status: str,
    response: dict[str, Any],
    *,
    method: str,
    oauth: bool,
    versioned: frozenset[str],
) -> None:
    code = int(status)
    if code >= 400:
        if not response.get("description") or response["description"] in (
            "Validation Error",
            "Problem details (RFC 9457)",
        ):
            response["description"] = _DESCRIPTIONS.get(status, response.get("description", ""))
        response.setdefault("description", _DESCRIPTIONS.get(status, "Error"))
        if oauth and code in (400, 401, 413, 429):
            # RFC 6749 §5.2 errors, which OAuth client libraries expect.
            response["content"] = {"application/json": {"schema": dict(OAUTH_ERROR_REF)}}
        else:
            response["content"] = _problem_content()
    headers = response.setdefault("headers", {})
    headers.update(_header_refs("X-Request-ID"))
    if path.startswith("/v1/"):  # (not required: a 401 without a well-signed token has none)
        headers.update(_header_refs("RateLimit", "RateLimit-Policy"))
    if code in (429, 503):
        headers.update(_header_refs("Retry-After"))
    if code == 401 or (code == 403 and not oauth):
        headers.update(_header_refs("WWW-Authenticate"))
    if code == 415 and (accepted := ACCEPTED_BY_METHOD.get(method.upper())):
        headers.update(_header_refs(accepted[0]))
    if path.startswith(NO_STORE_PREFIXES) or path in NO_STORE_PATHS:
        headers.update(_header_refs("Cache-Control"))
    if oauth and code in PRAGMA_STATUSES:
        headers.update(_header_refs("Pragma"))
    if code == 201:
        if op.get("operationId") not in NO_LOCATION:
            headers.update(_header_refs("Location"))
        headers.update(_header_refs("Idempotent-Replayed"))
        if _schema_is_versioned(response, versioned):
            headers.update(_header_refs("ETag"))
    if code == 200 and _schema_is_versioned(response, versioned):
        headers.update(_header_refs("ETag"))


def _versioned_models() -> frozenset[str]:
    """The response models of versioned resources: those with a ``version``, whose ``ETag`` is
    sent wherever one is rendered (app.api.responses.version_tag), and the answer to a secret
    rotation, which carries its subscription's."""
    found = {"SecretOut"}
    pending: list[type[ResponseModel]] = [ResponseModel]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if "version" in model.model_fields or isinstance(getattr(model, "version", None), property):
            found.add(model.__name__)
    return frozenset(found)


def _schema_is_versioned(response: dict[str, Any], versioned: frozenset[str]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] in versioned


def _sends_etag(response: dict[str, Any]) -> bool:
    return "ETag" in response.get("headers", {})


def document(app: FastAPI) -> dict[str, Any]:
    """The finished document for this app, regardless of environment."""
    from app.domain.scopes import SCOPES

    generated = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    return finish(generated, dict(SCOPES))


def install(app: FastAPI) -> None:
    """Serve the finished document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented override
