"""The benchmark's baseline: the same SQL as the real app, on a bare Starlette + asyncpg stack.

What a request here costs is close to the floor for "HTTP in, the app's statements, JSON out" on
this runtime: no FastAPI, no pydantic, no SQLAlchemy on the request path, no middleware, no
dependency injection and no logging. It runs the very SQL texts the app's repositories compile
(imported from them, so they cannot drift) with the same parameters, on a pool built by the app's
own :class:`~app.db.database.Database` (same ``server_settings``, orjson JSON codecs, cheap reset,
sizes, timeouts and audit chains per organisation, read from the same ``AFTERCARE_*`` variables as
the app's settings).

It does NOT verify the bearer token: it base64-decodes the payload for ``client_id``, ``org_id``,
``jti`` (and ``scope``). The app/baseline ratio therefore includes the app's RS256 verification (or,
since the app memoises verified tokens, its memo lookup) as well as its framework, validation and
serialisation cost.

``GET /v1/cases/{id}`` serves only what the benchmark asks for, the LEAD organisation's view: it
runs the app's statements (token status, the case with the policy's facts and their digest, the
audit append with the same canonical entry, computed by the app's own ``audit_row``; on a repeated
read, as the app's ``AccessMemo``, the case and the audit append in one statement whose append
waits on the same digest), then unwraps the
case's data key and decrypts the identity fields with ``cryptography``'s AESGCM directly, in the
blob and associated-data format of ``app.domain.crypto`` (a drift there fails the runner's check
that both answer the same body). Visible categories are those whose read scope the token holds, as
the policy gives a lead. It does not evaluate the access policy for anyone else: a caller that is
not the case's lead gets 501 (before any audit row is written), never a body.

``GET /v1/referrals`` (the inbox and outbox) runs the app's statements: token status, the
keyset page (``limit + 1`` rows after the decoded cursor, with the same filters) and the audit
appends: when the page holds referrals the caller receives and that are still pending, one naming
their cases (``referral.preview``, the preview's categories); when it holds others, one naming
theirs (``referral.list``, their services' categories). It builds ``ReferralOut`` as the app
serialises it (fields in the model's order, the case reference only where the app shows it, the
de-identified preview only for the receiver of a pending referral) with orjson, and the next
cursor with the app's own ``encode_cursor``: the runner checks the bodies are the same bytes.

``GET /v1/cases/{id}/care-plan`` (the lead's view) runs the app's statements: token status, the
case with the policy's facts, and the plan (goals with their progress, the services still
scheduled and the attended/missed counts per category, as three arrays) with its audit row
(``care_plan.read``) appended in the same statement; on a repeated read, the case, the plan and
the audit row in one statement, as the app; it opens titles, descriptions and notes
with the case's data key and builds ``CarePlanOut`` with orjson. Like ``case-read`` it answers
501 to anyone but the lead.

Run by ``bench/run.py`` as ``uvicorn bench.baseline:create_app --factory``.
"""

from __future__ import annotations

import base64
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db.database import Database
from app.db.repositories.audit import _APPEND as _AUDIT_APPEND
from app.db.repositories.audit import GENESIS
from app.db.repositories.care_plan import (
    _AUDITED_CARE_PLAN,
    _AUDITED_CASE_CARE_PLAN,
    _CARE_PLAN,
    _CASE_CARE_PLAN,
)
from app.db.repositories.cases import _LOAD_FOR as _CASE_LOAD_FOR
from app.db.repositories.cases import _LOAD_FOR_UPDATE as _CASE_LOAD_FOR_UPDATE
from app.db.repositories.cases import _READ_AUDITED as _CASE_READ_AUDITED
from app.db.repositories.cases import _READ_FOR as _CASE_READ_FOR
from app.db.repositories.clients import _TOKEN_STATUS
from app.db.repositories.events import _APPEND as _EVENTS_APPEND
from app.db.repositories.events import _APPEND_AUDITED as _EVENTS_APPEND_AUDITED
from app.db.repositories.events import audience_rows
from app.db.repositories.organizations import _GET as _ORGANIZATION_GET
from app.db.repositories.referrals import page_query as referrals_page_query
from app.db.repositories.updates import _INSERT as _UPDATE_INSERT
from app.domain.audit import audit_row
from app.domain.care_plan import CARE_PLAN_GOALS, CARE_PLAN_SERVICES
from app.domain.context import MAX_DETAILS_BYTES
from app.domain.crypto import load_kek
from app.domain.errors import ValidationFailed
from app.domain.events import EventType, SubjectType, audience_of, check_data
from app.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from app.domain.referral_rules import ReferralStatus
from app.domain.referrals import ACCEPTED_ONCE, PREVIEW_CATEGORIES
from app.domain.referrals import LIST_NAME as REFERRALS_LIST
from app.domain.scopes import read_scope_for, write_scope_for
from app.domain.vocabulary import CarePlanCategory, Category, UpdateKind, service_category
from app.settings import Settings

TOKEN_STATUS_SQL: str = _TOKEN_STATUS.sql
ORGANIZATION_GET_SQL: str = _ORGANIZATION_GET.sql
CASE_READ_SQL: str = _CASE_READ_FOR.sql
CASE_READ_AUDITED_SQL: str = _CASE_READ_AUDITED.sql
AUDIT_APPEND_SQL: str = _AUDIT_APPEND.sql
AUDITED_CARE_PLAN_SQL: str = _AUDITED_CARE_PLAN.sql
AUDITED_CASE_CARE_PLAN_SQL: str = _AUDITED_CASE_CARE_PLAN.sql
CASE_LOAD_FOR_UPDATE_SQL: str = _CASE_LOAD_FOR_UPDATE.sql
UPDATE_INSERT_SQL: str = _UPDATE_INSERT.sql
EVENTS_APPEND_SQL: str = _EVENTS_APPEND.sql
EVENTS_APPEND_AUDITED_SQL: str = _EVENTS_APPEND_AUDITED.sql
# What ``POST /v1/cases/{id}/updates`` runs, in order, when the lead posts an update that reaches
# care-team members (the app's own list: tests/test_bench_baseline.py checks it against the app).
UPDATE_POST_STATEMENTS: tuple[str, ...] = (
    "BEGIN",
    TOKEN_STATUS_SQL,
    CASE_LOAD_FOR_UPDATE_SQL,  # (with the case's audience: who hears of the update)
    UPDATE_INSERT_SQL,  # (with the case's updated_at)
    EVENTS_APPEND_AUDITED_SQL,  # the events, and the audit row the transaction held back
    "COMMIT",
)

# Parameters are bound positionally in the order the compiled statements name them; refuse to
# start if that order changes rather than binding a jti where a client id belongs.
_EXPECTED_NAMES = {
    "clients.token_status": (_TOKEN_STATUS, ("jti", "client_id")),
    "organizations.get": (_ORGANIZATION_GET, ("id",)),
    "cases.load_for": (_CASE_LOAD_FOR, ("org_id", "case_id")),
    "cases.load_for (locked)": (_CASE_LOAD_FOR_UPDATE, ("org_id", "case_id")),
    "updates.insert": (
        _UPDATE_INSERT,
        ("id", "case_id", "author_org_id", "author_client_id", "kind", "category",
         "occurred_at", "summary_enc", "details_enc", "supersedes"),
    ),
    "events.append": (
        _EVENTS_APPEND,
        ("ids", "org_ids", "types", "subject_types", "subject_ids", "case_ids", "data"),
    ),
    "referrals.page (inbox)": (referrals_page_query("incoming", False, False), ("org_id", "limit")),
    "referrals.page (inbox, after)": (
        referrals_page_query("incoming", False, True),
        ("org_id", "after_ts", "after_id", "limit"),
    ),
    "audit.append": (
        _AUDIT_APPEND,
        ("org_id", "genesis", "entry", "occurred_at", "client_id", "jti", "request_id",
         "action", "case_ids", "categories", "chains"),
    ),
}  # fmt: skip
_EXPECTED_NAMES["cases.read_for"] = (_CASE_READ_FOR, ("org_id", "case_id"))
_EXPECTED_NAMES["cases.read_audited"] = (
    _CASE_READ_AUDITED,
    (*(f"audit_{n}" for n in _AUDIT_APPEND.names), "org_id", "case_id", "expected_digest"),
)
_EXPECTED_NAMES["events.append (audited)"] = (
    _EVENTS_APPEND_AUDITED,
    tuple(f"audit_{n}" for n in _AUDIT_APPEND.names) + _EVENTS_APPEND.names,
)
_EXPECTED_NAMES["care_plan.care_plan (audited)"] = (
    _AUDITED_CARE_PLAN,
    tuple(f"audit_{n}" for n in _AUDIT_APPEND.names) + _CARE_PLAN.names,
)
_EXPECTED_NAMES["care_plan.case_care_plan (audited)"] = (
    _AUDITED_CASE_CARE_PLAN,
    (*(f"audit_{n}" for n in _AUDIT_APPEND.names), *_CASE_CARE_PLAN.names, "expected_digest"),
)
assert _CARE_PLAN.names == ("case_id", "categories", "goal_limit", "service_limit")
assert _CASE_CARE_PLAN.names == ("org_id", "case_id", "categories", "goal_limit", "service_limit")
for _name, (_query, _names) in _EXPECTED_NAMES.items():
    if _query.names != _names:
        raise RuntimeError(
            f"parameter order of {_name} changed to {_query.names}; update bench/baseline.py"
        )

_JSON = "application/json"
_UNAUTHORIZED = Response(b'{"status":401}', status_code=401, media_type=_JSON)
_NOT_FOUND = Response(b'{"status":404}', status_code=404, media_type=_JSON)
_NOT_LEAD = Response(b'{"status":501}', status_code=501, media_type=_JSON)

# The request id as ApiMiddleware chooses it (it goes into the audit row).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Each category with the scope that reads it, in the order the app lists visible categories.
_READ_SCOPES: tuple[tuple[str, str], ...] = tuple((str(c), read_scope_for(c)) for c in Category)

# app.domain.crypto's formats: blob = version (1 byte) || nonce (12) || ciphertext+tag, with
# associated data "aftercare:v1:dek:<case id>" (wrapped key) and
# "aftercare:v1:cases:<case id>:<column>" (identity field).
_CRYPTO_VERSION = 1
_MIN_BLOB = 1 + 12 + 16


def database_from_env(environ: Mapping[str, str] = os.environ) -> Database:
    """The pool the app would build from the same ``AFTERCARE_*`` variables (same defaults)."""
    return Database(
        environ["AFTERCARE_DATABASE_URL"],
        min_size=int(environ.get("AFTERCARE_DB_POOL_MIN_SIZE", "2")),
        max_size=int(environ.get("AFTERCARE_DB_POOL_MAX_SIZE", "10")),
        connect_timeout=float(environ.get("AFTERCARE_DB_CONNECT_TIMEOUT_SECONDS", "5.0")),
        acquire_timeout=float(environ.get("AFTERCARE_DB_ACQUIRE_TIMEOUT_SECONDS", "5.0")),
        audit_chains=int(environ.get("AFTERCARE_AUDIT_CHAINS", "64")),
    )


def read_kek(environ: Mapping[str, str] = os.environ) -> AESGCM:
    """The app's KEK, from where the app reads it: ``AFTERCARE_KEK``, else ``<keys_dir>/kek``."""
    keys_dir = environ.get("AFTERCARE_KEYS_DIR")
    directory = (
        Path(keys_dir)
        if keys_dir
        else Path(environ.get("AFTERCARE_DATA_DIR", ".aftercare"), "keys")
    )
    return AESGCM(load_kek(environ.get("AFTERCARE_KEK"), directory.resolve(), create=False))


def _chains(request: Request) -> int:
    """The audit append's ``chains`` (AFTERCARE_AUDIT_CHAINS, as the app binds it)."""
    chains: int = request.app.state.database.audit_chains
    return chains


async def audit_append(conn: asyncpg.Connection, request: Request, **row: Any) -> None:
    """One audit row as ``AuditTrail.record`` appends it (``row``: :func:`audit_args`' fields):
    the app's append statement (which chains it) with the app's values."""
    await conn.execute(AUDIT_APPEND_SQL, *audit_args(request, **row))


def audit_args(
    request: Request,
    *,
    org_id: UUID,
    client_id: str,
    jti: UUID,
    request_id: str,
    action: str,
    case_ids: list[UUID],
    categories: list[str],
) -> tuple[Any, ...]:
    """The audit append's parameters, in its order, built by the app's ``audit_row`` (also the
    first ones of a statement that appends its own audit row, ``appending()``)."""
    values = audit_row(org_id, client_id, jti, request_id, action, case_ids, categories)
    values.update(genesis=GENESIS, chains=_chains(request))
    return tuple(values[name] for name in _AUDIT_APPEND.names)


def unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    """The JWT payload of a ``Bearer`` header, decoded WITHOUT checking the signature."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        return None
    return claims if isinstance(claims, dict) else None


def organization_json(row: asyncpg.Record) -> bytes:
    """The app's ``OrganizationOut`` shape, straight from the row (capacity is decoded jsonb)."""
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "name": row["name"],
            "kind": row["kind"],
            "country": row["country"],
            "services": row["services"],
            "languages": row["languages"],
            "regions": row["regions"],
            "populations": {
                "accepts_minors": row["accepts_minors"],
                "accepts_adults": row["accepts_adults"],
                "genders": row["genders"],
            },
            "capacity": row["capacity"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "version": row["version"],
        },
        option=orjson.OPT_UTC_Z,
    )


def caller(request: Request) -> tuple[str, UUID, UUID, dict[str, Any]] | None:
    """``client_id``, ``org_id``, ``jti`` and the claims of the (unverified) bearer token."""
    claims = unverified_claims(request.headers.get("authorization"))
    if claims is None:
        return None
    try:
        return (
            str(claims["client_id"]),
            UUID(str(claims["org_id"])),
            UUID(str(claims["jti"])),
            claims,
        )
    except (KeyError, ValueError):
        return None


# The app remembers a token it found in order for AFTERCARE_TOKEN_STATUS_SECONDS (listening for
# revocations meanwhile, app.domain.tokens.TokenStatuses): the baseline runs the same SQL, the
# lookup at most once per token in that time (without the listener: it is the baseline).
TOKEN_STATUS_SECONDS: float = Settings.model_fields["token_status_seconds"].default
_TOKENS_IN_ORDER: dict[tuple[str, UUID], float] = {}


async def token_ok(conn: asyncpg.Connection, client_id: str, jti: UUID) -> bool:
    now = time.monotonic()
    until = _TOKENS_IN_ORDER.get((client_id, jti))
    if until is not None and until > now:
        return True
    status = await conn.fetchrow(TOKEN_STATUS_SQL, jti, client_id)
    ok = status is not None and status["client_active"] and not status["revoked"]
    if ok and TOKEN_STATUS_SECONDS > 0:
        _TOKENS_IN_ORDER[(client_id, jti)] = now + TOKEN_STATUS_SECONDS
    return bool(ok)


async def organizations_me(request: Request) -> Response:
    who = caller(request)
    if who is None:
        return _UNAUTHORIZED
    client_id, org_id, jti, _ = who
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        if not await token_ok(conn, client_id, jti):
            return _UNAUTHORIZED
        row = await conn.fetchrow(ORGANIZATION_GET_SQL, org_id)
    if row is None:
        return _NOT_FOUND
    return Response(
        organization_json(row), media_type=_JSON, headers={"ETag": f'"{row["version"]}"'}
    )


def data_key(kek: AESGCM, case_id: UUID, wrapped: bytes) -> AESGCM:
    """The case's data key, unwrapped as ``KeyWrapper.unwrap`` does."""
    wrapped = bytes(wrapped)
    if len(wrapped) < _MIN_BLOB or wrapped[0] != _CRYPTO_VERSION:
        raise ValueError("unknown wrapped-key version")
    return AESGCM(kek.decrypt(wrapped[1:13], wrapped[13:], f"aftercare:v1:dek:{case_id}".encode()))


def open_field(aead: AESGCM, table: str, row_id: UUID, column: str, blob: bytes | None) -> Any:
    """A free-text field, decrypted as ``DataKey.decrypt_field`` does (AAD table:row:column)."""
    if blob is None:
        return None
    blob = bytes(blob)
    if len(blob) < _MIN_BLOB or blob[0] != _CRYPTO_VERSION:
        raise ValueError("unknown ciphertext version")
    aad = f"aftercare:v1:{table}:{row_id}:{column}".encode()
    return orjson.loads(aead.decrypt(blob[1:13], blob[13:], aad))


def decrypt_identity(aead: AESGCM, row: asyncpg.Record) -> dict[str, Any]:
    """The identity fields, decrypted as ``CaseService._decrypt_identity`` does."""
    if row["identity_erased_at"] is not None:  # erased: every field is empty
        return {
            "given_name": None,
            "family_name": None,
            "aliases": [],
            "date_of_birth": None,
            "estimated_birth_year": None,
            "contact": None,
            "guardian": None,
        }

    def field(column: str) -> Any:
        return open_field(aead, "cases", row["id"], column, row[f"{column}_enc"])

    return {
        "given_name": field("given_name"),
        "family_name": field("family_name"),
        "aliases": field("aliases") or [],
        "date_of_birth": field("date_of_birth") or None,  # ISO text, as the app serialises it
        "estimated_birth_year": field("birth_year"),
        "contact": field("contact") or None,  # the app answers null for an empty contact
        "guardian": field("guardian"),
    }


def case_json(kek: AESGCM, row: asyncpg.Record, visible: list[str]) -> bytes:
    """The app's ``CaseOut`` for the lead (fields of unseen categories absent), from the row."""
    sees = set(visible)
    out: dict[str, Any] = {
        "id": str(row["id"]),
        "reference": row["reference"],
        "lead_org_id": str(row["lead_org_id"]),
        "status": row["status"],
        "role": "lead",
        "visible_categories": visible,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
        "closed_at": row["closed_at"],
    }
    aead = data_key(kek, row["id"], row["wrapped_key"])
    if row["external_ref_enc"] is None:  # after a lead transfer: the reference stands in
        out["external_ref"] = row["reference"]
    else:
        out["external_ref"] = open_field(
            aead, "cases", row["id"], "external_ref", row["external_ref_enc"]
        )
    survivor: dict[str, Any] = {}
    guardian: dict[str, Any] | None = None
    if "demographics" in sees:
        out["is_minor"] = row["is_minor"]
        out["age_band"] = row["age_band"]
        survivor.update(
            gender=row["gender"],
            nationality=row["nationality"],
            languages=row["languages"],
            interpreter_needed=row["interpreter_needed"],
        )
    if "identity" in sees:
        identity = decrypt_identity(aead, row)
        guardian = identity.pop("guardian")
        survivor.update(identity)
    if survivor:
        out["survivor"] = survivor
    if "identity" in sees:
        out["guardian"] = (
            {
                "name": guardian.get("name"),
                "relationship": guardian.get("relationship"),
                "contact": guardian.get("contact") or None,
            }
            if guardian
            else None
        )
        out["identity_erased"] = row["identity_erased_at"] is not None
    if "exploitation" in sees:
        out["exploitation"] = {
            "types": row["exploitation_types"],
            "identified_on": row["identified_on"],
            "country": row["identified_country"],
        }
    if "general" in sees:
        out["needs"] = row["needs"]
        out["risk_level"] = row["risk_level"]
        out["close_reason"] = open_field(
            aead, "cases", row["id"], "close_reason", row["close_reason_enc"]
        )
    return orjson.dumps(out, option=orjson.OPT_UTC_Z)


def request_id_of(request: Request) -> str:
    """The caller's X-Request-ID when sane, else a new one (as the app's middleware chooses)."""
    header = request.headers.get("x-request-id")
    return header if header and _REQUEST_ID.match(header) else uuid.uuid4().hex


# The case read's digest of the policy's facts per (organisation, case, scopes), as the app's
# AccessMemo remembers it with its decision: a repeated read runs the app's one statement.
_CASE_DIGESTS: dict[tuple[UUID, UUID, frozenset[str]], bytes] = {}


async def case_read(request: Request) -> Response:
    request_id = request_id_of(request)
    who = caller(request)
    if who is None:
        return _UNAUTHORIZED
    client_id, org_id, jti, claims = who
    case_id: UUID = request.path_params["case_id"]
    scopes = frozenset(str(claims.get("scope", "")).split())
    if "cases:read" not in scopes:
        return Response(b'{"status":403}', status_code=403, media_type=_JSON)
    visible = [category for category, scope in _READ_SCOPES if scope in scopes]
    audit: dict[str, Any] = {
        "org_id": org_id,
        "client_id": client_id,
        "jti": jti,
        "request_id": request_id,
        "action": "case.read",
        "case_ids": [case_id],
        "categories": sorted(visible),
    }
    key = (org_id, case_id, scopes)
    digest = _CASE_DIGESTS.get(key)
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        if not await token_ok(conn, client_id, jti):
            return _UNAUTHORIZED
        if digest is not None:
            args = audit_args(request, **audit)
            row = await conn.fetchrow(CASE_READ_AUDITED_SQL, *args, org_id, case_id, digest)
        else:
            row = await conn.fetchrow(CASE_READ_SQL, org_id, case_id)
        if row is None:
            return _NOT_FOUND
        if row["lead_org_id"] != org_id:
            return _NOT_LEAD  # a care-team view needs the consent policy; not in the baseline
        if digest is None or not row["audited"]:
            await audit_append(conn, request, **audit)
            _CASE_DIGESTS[key] = row["facts_digest"]
    return Response(
        case_json(request.app.state.kek, row, visible),
        media_type=_JSON,
        headers={"ETag": f'"{row["version"]}"', "X-Request-ID": request_id},
    )


# GET /v1/referrals: what the app's query parameters accept, and what the receiver may not see.
_DIRECTIONS = frozenset({"incoming", "outgoing"})
_STATUSES = frozenset(str(s) for s in ReferralStatus)
_MAX_CURSOR = 512
_PENDING = str(ReferralStatus.PENDING)
# ReferralOut.of: the receiver sees the case reference once it has been on the care team.
_REFERENCE_SHOWN = frozenset(str(s) for s in ACCEPTED_ONCE)
_PREVIEW_ACTION = "referral.preview"
_LIST_ACTION = "referral.list"
_PREVIEW_CATEGORIES = frozenset(str(c) for c in PREVIEW_CATEGORIES)
_INVALID = Response(b'{"status":422}', status_code=422, media_type=_JSON)


def referral_out(row: asyncpg.Record, org_id: UUID, aead: AESGCM) -> tuple[dict[str, Any], bool]:
    """The app's ``ReferralOut`` for the caller (unset fields absent, in the model's field
    order), and whether it carries the de-identified preview (receiver, still pending).
    ``aead`` is the case's data key (free text is encrypted with it)."""
    sender = row["from_org_id"] == org_id

    def text(column: str) -> Any:
        return open_field(aead, "referrals", row["id"], column, row[f"{column}_enc"])

    status = row["status"]
    out: dict[str, Any] = {"id": str(row["id"]), "case_id": str(row["case_id"])}
    if sender or row["started_at"] is not None or status in _REFERENCE_SHOWN:
        out["case_reference"] = row["case_reference"]
    out.update(
        from_org_id=str(row["from_org_id"]),
        to_org_id=str(row["to_org_id"]),
        direction="outgoing" if sender else "incoming",
        service=row["service"],
        urgency=row["urgency"],
        reason=text("reason"),
        shared_categories=row["shared_categories"],
        respond_by=row["respond_by"],
        transfer_lead=row["transfer_lead"],
        status=status,
        status_reason=text("status_reason"),
        outcome=text("outcome"),
        reason_code=row["reason_code"],
        outcome_code=row["outcome_code"],
        responded_at=row["responded_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=row["version"],
    )
    previewed = not sender and status == _PENDING
    if previewed:
        out["preview"] = {
            "age_band": row["age_band"],
            "gender": row["gender"],
            "languages": row["languages"],
            "interpreter_needed": row["interpreter_needed"],
            "needs": row["needs"],
            "urgency": row["urgency"],
            "is_minor": row["is_minor"],
            "exploitation_types": row["exploitation_types"],
        }
    return out, previewed


def page_params(
    request: Request,
) -> tuple[str | None, str | None, int, tuple[Any, ...] | None] | None:
    """direction, status, limit and the decoded cursor, or None where the app answers 422."""
    query = request.query_params
    direction = query.get("direction")
    status = query.get("status")
    raw_limit = query.get("limit")
    cursor = query.get("cursor")
    if direction is not None and direction not in _DIRECTIONS:
        return None
    if status is not None and status not in _STATUSES:
        return None
    try:
        limit = int(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
    except ValueError:
        return None
    if not 1 <= limit <= MAX_LIMIT or (cursor is not None and len(cursor) > _MAX_CURSOR):
        return None
    try:
        after = decode_cursor(cursor, REFERRALS_LIST, (datetime.fromisoformat, UUID))
    except ValidationFailed:
        return None
    return direction, status, limit, after


async def referrals_list(request: Request) -> Response:
    request_id = request_id_of(request)
    who = caller(request)
    if who is None:
        return _UNAUTHORIZED
    client_id, org_id, jti, claims = who
    if "referrals:read" not in str(claims.get("scope", "")).split():
        return Response(b'{"status":403}', status_code=403, media_type=_JSON)
    params = page_params(request)
    if params is None:
        return _INVALID
    direction, status, limit, after = params
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        if not await token_ok(conn, client_id, jti):
            return _UNAUTHORIZED
        # The app's statement for this shape of request, its parameters in their order.
        query = referrals_page_query(direction, status is not None, after is not None)
        values = {"org_id": org_id, "status": status, "limit": limit + 1}
        if after:
            values.update(after_ts=after[0], after_id=after[1])
        rows = await conn.fetch(query.sql, *query.args(values))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(
                REFERRALS_LIST, (last["created_at"].isoformat(), last["id"])
            )
        items = []
        previewed = []
        previewed_categories = set(_PREVIEW_CATEGORIES)
        shown = []
        categories = set()
        kek: AESGCM = request.app.state.kek
        keys: dict[UUID, AESGCM] = {}
        for row in rows:
            case_id = row["case_id"]
            if case_id not in keys:  # each case's data key unwrapped once per request
                keys[case_id] = data_key(kek, case_id, row["wrapped_key"])
            out, preview = referral_out(row, org_id, keys[case_id])
            items.append(out)
            if preview:
                previewed.append(case_id)
                previewed_categories.add(str(service_category(row["service"])))
            else:
                shown.append(case_id)
                categories.add(str(service_category(row["service"])))
        audit = [(_PREVIEW_ACTION, previewed, sorted(previewed_categories))] if previewed else []
        if shown:
            audit.append((_LIST_ACTION, shown, sorted(categories)))
        for action, cases, cats in audit:
            case_ids = list(dict.fromkeys(cases))
            await audit_append(
                conn,
                request,
                org_id=org_id,
                client_id=client_id,
                jti=jti,
                request_id=request_id,
                action=action,
                case_ids=case_ids,
                categories=cats,
            )
    return Response(
        orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z),
        media_type=_JSON,
        headers={"X-Request-ID": request_id},
    )


# GET /v1/cases/{id}/care-plan: the categories a goal or service record may belong to.
_CARE_CATEGORIES = frozenset(str(c) for c in CarePlanCategory)


def goal_json(aead: AESGCM, row: tuple[Any, ...]) -> dict[str, Any]:
    """The app's ``GoalOut``, in its field order, with the progress entries' notes opened; from
    one of the care plan statement's goal records (its columns in order)."""
    (
        goal_id, case_id, category, owner_org_id, created_by_org_id, title_enc, description_enc,
        target_date, status, created_at, updated_at, version, entries,
    ) = row  # fmt: skip
    progress = [
        {
            "id": str(entry_id),
            "status": entry_status,
            "note": open_field(aead, "goal_progress", entry_id, "note", sealed),
            "recorded_at": recorded_at,
            "recorded_by_org_id": str(recorded_by),
            "created_at": entry_created_at,
        }
        for entry_id, entry_status, sealed, recorded_at, recorded_by, entry_created_at in entries
    ]
    return {
        "id": str(goal_id),
        "case_id": str(case_id),
        "category": category,
        "title": open_field(aead, "goals", goal_id, "title", title_enc),
        "description": open_field(aead, "goals", goal_id, "description", description_enc),
        "owner_org_id": str(owner_org_id),
        "created_by_org_id": str(created_by_org_id),
        "target_date": target_date,
        "status": status,
        "progress": progress,
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
    }


def service_json(aead: AESGCM, row: tuple[Any, ...]) -> dict[str, Any]:
    """The app's ``ServiceOut``, in its field order, with the notes opened; from one of the care
    plan statement's service records (its columns in order)."""
    (
        service_id, case_id, category, service, type_, status, scheduled_at, occurred_at,
        provider_org_id, goal_id, notes_enc, codes, recorded_by_org_id, created_at, updated_at,
        version,
    ) = row  # fmt: skip
    return {
        "id": str(service_id),
        "case_id": str(case_id),
        "category": category,
        "service": service,
        "type": type_,
        "status": status,
        "scheduled_at": scheduled_at,
        "occurred_at": occurred_at,
        "provider_org_id": str(provider_org_id),
        "goal_id": str(goal_id) if goal_id is not None else None,
        "notes": open_field(aead, "service_records", service_id, "notes", notes_enc),
        "codes": codes,
        "recorded_by_org_id": str(recorded_by_org_id),
        "created_at": created_at,
        "updated_at": updated_at,
        "version": version,
    }


async def care_plan(request: Request) -> Response:
    request_id = request_id_of(request)
    who = caller(request)
    if who is None:
        return _UNAUTHORIZED
    client_id, org_id, jti, claims = who
    case_id: UUID = request.path_params["case_id"]
    scopes = set(str(claims.get("scope", "")).split())
    if "cases:read" not in scopes:
        return Response(b'{"status":403}', status_code=403, media_type=_JSON)
    categories = sorted(
        category
        for category, scope in _READ_SCOPES
        if scope in scopes and category in _CARE_CATEGORIES
    )
    audit = audit_args(
        request,
        org_id=org_id,
        client_id=client_id,
        jti=jti,
        request_id=request_id,
        action="care_plan.read",
        case_ids=[case_id],
        categories=categories,
    )
    plan = (categories, CARE_PLAN_GOALS, CARE_PLAN_SERVICES)
    # The decision remembered by a case read or a care plan read, as the app's AccessMemo.
    key = (org_id, case_id, frozenset(scopes))
    digest = _CASE_DIGESTS.get(key)
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        if not await token_ok(conn, client_id, jti):
            return _UNAUTHORIZED
        if digest is not None:
            case = await conn.fetchrow(
                AUDITED_CASE_CARE_PLAN_SQL, *audit, org_id, case_id, *plan, digest
            )
        else:
            case = await conn.fetchrow(CASE_READ_SQL, org_id, case_id)
        if case is None:
            return _NOT_FOUND
        if case["lead_org_id"] != org_id:
            return _NOT_LEAD  # a care-team view needs the consent policy; not in the baseline
        if digest is not None and case["audited"]:
            goals, services, counts = case["goals"], case["services"], case["attendance"]
        else:
            _CASE_DIGESTS[key] = case["facts_digest"]
            goals, services, counts = await conn.fetchrow(
                AUDITED_CARE_PLAN_SQL, *audit, case_id, *plan
            )
    aead = data_key(request.app.state.kek, case_id, case["wrapped_key"])
    body = {
        "case_id": str(case_id),
        "goals": [goal_json(aead, row) for row in goals],
        "services": [service_json(aead, row) for row in services],
        "attendance": {
            category: {"attended": attended, "missed": missed}
            for category, attended, missed in counts
        },
    }
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        media_type=_JSON,
        headers={"X-Request-ID": request_id},
    )


# POST /v1/cases/{id}/updates: what the app's UpdateCreate accepts (a bare 422 otherwise).
_UPDATE_FIELDS = frozenset({"kind", "category", "occurred_at", "summary", "details", "supersedes"})
_UPDATE_KINDS = frozenset(str(k) for k in UpdateKind)
_CATEGORIES = frozenset(str(c) for c in Category)
_MAX_SUMMARY = 4000
_CLOCK_SKEW = timedelta(minutes=5)
_UPDATE_ADDED = EventType.CASE_UPDATE_ADDED.value
_CASE_UPDATE = SubjectType.CASE_UPDATE.value
_NOT_SUPPORTED = Response(b'{"status":501}', status_code=501, media_type=_JSON)


def seal_field(aead: AESGCM, table: str, row_id: UUID, column: str, value: Any) -> bytes | None:
    """A free-text field, encrypted as ``DataKey.encrypt_field`` does (AAD table:row:column)."""
    if value is None:
        return None
    nonce = os.urandom(12)
    aad = f"aftercare:v1:{table}:{row_id}:{column}".encode()
    return bytes([_CRYPTO_VERSION]) + nonce + aead.encrypt(nonce, orjson.dumps(value), aad)


def update_input(raw: bytes, max_details: int) -> tuple[str, str, datetime, str, Any] | Response:
    """kind, category, occurred_at (UTC), summary (stripped) and details of the body, or the
    bare 422 where the app answers 422. A correction (``supersedes``) reads the update it
    supersedes: not in the baseline (501)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _INVALID
    if not isinstance(body, dict) or not body.keys() <= _UPDATE_FIELDS:
        return _INVALID
    if body.get("supersedes") is not None:
        return _NOT_SUPPORTED
    kind, category = body.get("kind"), body.get("category")
    summary, details = body.get("summary"), body.get("details")
    if kind not in _UPDATE_KINDS or category not in _CATEGORIES or not isinstance(summary, str):
        return _INVALID
    summary = summary.strip()
    if not 1 <= len(summary) <= _MAX_SUMMARY or "\x00" in summary:
        return _INVALID
    if details is not None and (
        not isinstance(details, dict) or len(orjson.dumps(details)) > max_details
    ):
        return _INVALID
    try:
        occurred_at = datetime.fromisoformat(str(body.get("occurred_at")))
    except ValueError:
        return _INVALID
    if occurred_at.tzinfo is None or not 1900 <= occurred_at.year <= 2200:
        return _INVALID
    return kind, category, occurred_at.astimezone(UTC), summary, details


async def update_post(request: Request) -> Response:
    request_id = request_id_of(request)
    who = caller(request)
    if who is None:
        return _UNAUTHORIZED
    client_id, org_id, jti, claims = who
    scopes = set(str(claims.get("scope", "")).split())
    if "cases:write" not in scopes:
        return Response(b'{"status":403}', status_code=403, media_type=_JSON)
    data = update_input(await request.body(), request.app.state.max_details_bytes)
    if isinstance(data, Response):
        return data
    kind, category, occurred_at, summary, details = data
    case_id: UUID = request.path_params["case_id"]
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        # One transaction, as the app's write session: BEGIN ... COMMIT, ROLLBACK on any error.
        await conn.execute("BEGIN")
        try:
            response = await _update_in_transaction(
                request, conn, request_id, client_id, org_id, jti, scopes, case_id,
                kind, category, occurred_at, summary, details,
            )  # fmt: skip
        except BaseException:
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT" if response.status_code == 201 else "ROLLBACK")
    return response


async def _update_in_transaction(
    request: Request,
    conn: asyncpg.Connection,
    request_id: str,
    client_id: str,
    org_id: UUID,
    jti: UUID,
    scopes: set[str],
    case_id: UUID,
    kind: str,
    category: str,
    occurred_at: datetime,
    summary: str,
    details: Any,
) -> Response:
    """The app's statements for the lead's update, in its order, inside the open transaction."""
    if not await token_ok(conn, client_id, jti):
        return _UNAUTHORIZED
    row = await conn.fetchrow(CASE_LOAD_FOR_UPDATE_SQL, org_id, case_id)
    if row is None:
        return _NOT_FOUND
    if row["lead_org_id"] != org_id:
        return _NOT_LEAD  # a care-team member's rights need the consent policy; not here
    # What the policy lets a lead write: every category whose write scope the token holds.
    if (write_scope_for(Category(category)) or "cases:write") not in scopes:
        return Response(b'{"status":403}', status_code=403, media_type=_JSON)
    if occurred_at > datetime.now(UTC) + _CLOCK_SKEW:
        return _INVALID
    aead = data_key(request.app.state.kek, case_id, row["wrapped_key"])
    update_id = uuid.uuid4()
    # (the case's updated_at is set in the same statement)
    inserted = await conn.fetchrow(
        UPDATE_INSERT_SQL,
        update_id, case_id, org_id, client_id, kind, category, occurred_at,
        seal_field(aead, "case_updates", update_id, "summary", summary),
        seal_field(aead, "case_updates", update_id, "details", details),
        None,
    )  # fmt: skip
    # The audit row, held back as the app's transaction holds it (audit.append): the events'
    # append carries it, or it goes alone before COMMIT.
    audit = audit_args(
        request,
        org_id=org_id,
        client_id=client_id,
        jti=jti,
        request_id=request_id,
        action="update.create",
        case_ids=[case_id],
        categories=[category],
    )
    # The outbox: to every organisation that may see the case now and is entitled to the
    # category, never to the actor (Outbox.to_case), all in the one append; who may see it came
    # with the locked load (`audience`).
    audience = audience_of(audience_rows(row["lead_org_id"], row["audience"]), datetime.now(UTC))
    recipients = [o for o, entitled in audience.items() if o != org_id and category in entitled]
    if recipients:
        payload = check_data({"category": category, "update_id": update_id})
        count = len(recipients)
        await conn.fetchrow(
            EVENTS_APPEND_AUDITED_SQL,
            *audit,
            [uuid.uuid4() for _ in recipients], recipients, [_UPDATE_ADDED] * count,
            [_CASE_UPDATE] * count, [update_id] * count, [case_id] * count, [payload] * count,
        )  # fmt: skip
    else:
        await conn.execute(AUDIT_APPEND_SQL, *audit)
    assert inserted is not None
    body = orjson.dumps(
        {
            "id": str(update_id),
            "case_id": str(case_id),
            "author_org_id": str(org_id),
            "kind": kind,
            "category": category,
            "occurred_at": inserted["occurred_at"],
            "summary": summary,
            "details": details,
            "supersedes": None,
            "created_at": inserted["created_at"],
            "updated_at": inserted["created_at"],
            "version": 1,
        },
        option=orjson.OPT_UTC_Z,
    )
    return Response(
        body,
        status_code=201,
        media_type=_JSON,
        headers={
            "Location": f"/v1/cases/{case_id}/updates/{update_id}",
            "ETag": '"1"',  # an update never changes
            "X-Request-ID": request_id,
        },
    )


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=_JSON)


def create_app() -> Starlette:
    database = database_from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.connect()
        try:
            yield
        finally:
            await database.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/v1/organizations/me", organizations_me),
            Route("/v1/cases/{case_id:uuid}", case_read),
            Route("/v1/referrals", referrals_list),
            Route("/v1/cases/{case_id:uuid}/care-plan", care_plan),
            Route("/v1/cases/{case_id:uuid}/updates", update_post, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.kek = read_kek()
    app.state.max_details_bytes = int(
        os.environ.get("AFTERCARE_MAX_DETAILS_BYTES", str(MAX_DETAILS_BYTES))
    )
    return app
