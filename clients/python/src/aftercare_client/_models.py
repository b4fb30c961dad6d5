"""The resources the API returns, as frozen dataclasses built from its JSON.

Dataclasses rather than pydantic or TypedDicts: no dependency beyond httpx (so no clash with the
pydantic major version a partner's application pins), attribute access that mypy checks, values
already converted (``datetime``, ``date``, ``UUID``), and immutability. Fields the server adds
later are ignored, so an older SDK keeps working; ``tests/sdk/test_drift.py`` in the service's
repository fails when a model's fields and the OpenAPI document disagree.

Enumerations (statuses, kinds, categories) stay plain ``str``: a value the hub adds later must not
break a partner's running integration.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

T = TypeVar("T")

__all__ = [
    "AccessLogEntry",
    "Attendance",
    "Capacity",
    "CarePlan",
    "Case",
    "CasesReport",
    "Code",
    "Consent",
    "Delivery",
    "DueFollowUp",
    "Event",
    "Exploitation",
    "FollowUp",
    "FollowUpsReport",
    "Goal",
    "Guardian",
    "HomeReview",
    "ImmigrationRelief",
    "LegalDocument",
    "LegalRecord",
    "Organization",
    "OverdueVisit",
    "Page",
    "Placement",
    "PlacementsReport",
    "Populations",
    "Preview",
    "Progress",
    "Prosecution",
    "Referral",
    "ReferralsReport",
    "ReportCell",
    "ReportCount",
    "ReportPeriod",
    "ReportSummary",
    "ScheduledService",
    "ServiceRecord",
    "Subject",
    "Survivor",
    "Testimony",
    "TestimonyRow",
    "TimelineUpdate",
    "Token",
    "Visit",
    "Webhook",
    "WebhookSecret",
    "WebhookWithSecret",
    "parse",
]


@dataclass(frozen=True, slots=True)
class Capacity:
    service: str
    available: int
    maximum: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Populations:
    accepts_minors: bool
    accepts_adults: bool
    genders: list[str]


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    name: str
    kind: str
    country: str | None
    services: list[str]
    languages: list[str]
    regions: list[str]
    populations: Populations
    capacity: list[Capacity]
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Survivor:
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    gender: str | None = None
    nationality: str | None = None
    languages: list[str] | None = None
    interpreter_needed: bool | None = None
    contact: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Guardian:
    name: str | None = None
    relationship: str | None = None
    contact: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Exploitation:
    types: list[str]
    identified_on: date | None
    country: str | None


@dataclass(frozen=True, slots=True)
class Case:
    """A case as the caller may see it: categories it may not read are ``None``."""

    id: UUID
    reference: str
    lead_org_id: UUID
    status: str
    role: str
    visible_categories: list[str]
    created_at: datetime
    updated_at: datetime
    version: int
    external_ref: str | None = None
    survivor: Survivor | None = None
    guardian: Guardian | None = None
    identity_erased: bool | None = None
    age_band: str | None = None
    is_minor: bool | None = None
    exploitation: Exploitation | None = None
    needs: list[str] | None = None
    risk_level: str | None = None
    close_reason: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    id: UUID
    case_id: UUID
    status: str
    granted_by: list[str]
    recipient_org_id: UUID | None
    recipient_kinds: list[str]
    categories: list[str]
    purpose: str
    obtained_at: datetime
    expires_at: datetime | None
    evidence_ref: str | None
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class TimelineUpdate:
    id: UUID
    case_id: UUID
    author_org_id: UUID
    kind: str
    category: str
    occurred_at: datetime
    summary: str
    details: dict[str, Any] | None
    supersedes: UUID | None
    created_at: datetime
    # An update never changes: its created_at, and 1 (absent from older hubs' answers).
    updated_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Preview:
    age_band: str
    gender: str
    languages: list[str]
    interpreter_needed: bool
    needs: list[str]
    urgency: str
    is_minor: bool
    exploitation_types: list[str]


@dataclass(frozen=True, slots=True)
class Referral:
    id: UUID
    case_id: UUID
    from_org_id: UUID
    to_org_id: UUID
    direction: str
    service: str
    urgency: str
    reason: str
    shared_categories: list[str]
    respond_by: datetime | None
    transfer_lead: bool
    status: str
    status_reason: str | None
    outcome: str | None
    reason_code: str | None
    outcome_code: str | None
    responded_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    case_reference: str | None = None
    preview: Preview | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    type: str
    id: UUID


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the event feed; ``id`` is also the ``webhook-id`` of its deliveries."""

    id: UUID
    type: str
    occurred_at: datetime
    subject: Subject
    case_id: UUID | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    status: str
    consecutive_failures: int
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class WebhookWithSecret(Webhook):
    """The answer to creating a subscription: the only time ``secret`` is shown."""

    secret: str = ""


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    secret: str
    previous_secret_expires_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookPing:
    """A ``webhook.test`` event queued for one subscription, and its delivery."""

    event_id: UUID
    delivery_id: UUID


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery queued again by a manual retry."""

    id: UUID
    event_id: UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One attempt (made, or still to come when ``id`` is ``None``) to deliver an event."""

    id: UUID | None
    delivery_id: UUID
    event_id: UUID
    event_type: str
    attempt: int
    status: str
    response_status: int | None
    error: str | None
    duration_ms: int | None
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Progress:
    id: UUID
    status: str
    note: str | None
    recorded_at: datetime
    recorded_by_org_id: UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Goal:
    id: UUID
    case_id: UUID
    category: str
    title: str
    description: str | None
    owner_org_id: UUID
    created_by_org_id: UUID
    target_date: date | None
    status: str
    progress: list[Progress]
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    id: UUID
    case_id: UUID
    category: str
    service: str
    type: str
    status: str
    scheduled_at: datetime | None
    occurred_at: datetime | None
    provider_org_id: UUID
    goal_id: UUID | None
    notes: str | None
    codes: list[Code]
    recorded_by_org_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Attendance:
    attended: int
    missed: int


@dataclass(frozen=True, slots=True)
class CarePlan:
    case_id: UUID
    goals: list[Goal]
    services: list[ServiceRecord]
    attendance: dict[str, Attendance]


@dataclass(frozen=True, slots=True)
class ScheduledService(ServiceRecord):
    """A service record still scheduled, across cases (``services.scheduled``)."""

    case_reference: str


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    """Who read or changed a case (the lead's audit view); ``request_id`` is their X-Request-ID."""

    occurred_at: datetime
    org_id: UUID
    org_name: str | None
    client_id: str
    action: str
    categories: list[str]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class LegalDocument:
    type: str
    status: str


@dataclass(frozen=True, slots=True)
class Testimony:
    __test__ = False  # not a test class, whatever pytest makes of the name

    status: str
    protective_measures: list[str]
    next_session_at: datetime | None


@dataclass(frozen=True, slots=True)
class Prosecution:
    status: str
    next_hearing_at: datetime | None


@dataclass(frozen=True, slots=True)
class ImmigrationRelief:
    type: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class LegalRecord:
    """A case's legal record; ``version`` is 0 (and ``updated_at`` ``None``) until first written."""

    case_id: UUID
    documents: list[LegalDocument]
    testimony: Testimony
    prosecution: Prosecution
    immigration_relief: ImmigrationRelief
    updated_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class TestimonyRow:
    """One case's testimony preparation, in the testimony pull (``legal.testimony``)."""

    __test__ = False  # not a test class, whatever pytest makes of the name

    case_id: UUID
    reference: str
    testimony_status: str
    protective_measures: list[str]
    next_session_at: datetime | None
    next_hearing_at: datetime | None
    last_change: datetime


@dataclass(frozen=True, slots=True)
class HomeReview:
    """The vetting of a community or foster family; an approved one lets such a placement start."""

    id: UUID
    case_id: UUID
    reviewer_org_id: UUID
    reviewed_at: datetime
    result: str
    notes: str | None
    created_at: datetime
    # A review never changes: its created_at, and 1 (absent from older hubs' answers).
    updated_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class Placement:
    id: UUID
    case_id: UUID
    org_id: UUID
    placed_by_org_id: UUID
    setting: str
    home_review_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    authorization_ref: str | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class Visit:
    id: UUID
    placement_id: UUID
    visitor_org_id: UUID
    visited_at: datetime
    summary: str
    created_at: datetime
    # A visit never changes: its created_at, and 1 (absent from older hubs' answers).
    updated_at: datetime | None = None
    version: int = 1


@dataclass(frozen=True, slots=True)
class OverdueVisit:
    """A community or foster placement of yours with no visit in the last 7 days."""

    placement_id: UUID
    case_id: UUID
    case_reference: str
    org_id: UUID
    setting: str
    started_at: datetime
    last_visit_at: datetime | None
    days_overdue: int


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A contact after exit: scheduled for ``due_on``, then recorded with an ``outcome``."""

    id: UUID
    case_id: UUID
    org_id: UUID
    due_on: date
    contacted_at: datetime | None
    outcome: str | None
    recorded_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class DueFollowUp(FollowUp):
    """A follow-up of yours that is due; ``days_overdue`` is 0 when it is due today."""

    case_reference: str
    days_overdue: int


@dataclass(frozen=True, slots=True)
class ReportCount:
    """A count in a report: the lower end of its band (``band_width`` wide: 5 means 5 to 9);
    ``None`` when suppressed (below ``min_cell_size``, zero included)."""

    count: int | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class ReportCell:
    """One value of a report's breakdown (an age band, a status) and its count."""

    value: str
    count: int | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    start: date
    end: date
    months: int


@dataclass(frozen=True, slots=True)
class CasesReport:
    opened: ReportCount
    closed: ReportCount
    open_at_end: ReportCount
    minors_opened: ReportCount
    by_age_band: list[ReportCell]
    by_gender: list[ReportCell]
    by_exploitation_type: list[ReportCell]


@dataclass(frozen=True, slots=True)
class ReferralsReport:
    total: ReportCount
    by_status: list[ReportCell]
    by_service: list[ReportCell]
    responded: ReportCount
    median_response_hours: int | None


@dataclass(frozen=True, slots=True)
class PlacementsReport:
    started: ReportCount
    by_setting: list[ReportCell]
    ended: ReportCount
    by_exit_reason: list[ReportCell]


@dataclass(frozen=True, slots=True)
class FollowUpsReport:
    recorded: ReportCount
    by_outcome: list[ReportCell]


@dataclass(frozen=True, slots=True)
class ReportSummary:
    """De-identified counts of your organisation's own work over whole months
    (``reports.summary``)."""

    organization_id: UUID
    period: ReportPeriod
    generated_at: datetime
    min_cell_size: int
    band_width: int
    cases: CasesReport
    referrals_sent: ReferralsReport
    referrals_received: ReferralsReport
    placements: PlacementsReport
    follow_ups: FollowUpsReport


@dataclass(frozen=True, slots=True)
class Token:
    access_token: str
    token_type: str
    expires_in: int
    scope: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` for the next (``None``: the end)."""

    items: list[T]
    next_cursor: str | None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin is types.UnionType or origin is typing.Union:
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_convert(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {k: _convert(item, v) for k, v in value.items()}
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    if tp is UUID:
        return UUID(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return parse(tp, value)
    return value


def parse(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build ``cls`` from a JSON object, converting nested values and ignoring unknown fields."""
    hints = _hints(cls)
    kwargs = {
        f.name: _convert(hints[f.name], data[f.name])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name in data
    }
    return cls(**kwargs)


def parse_page(cls: type[T], data: Mapping[str, Any]) -> Page[T]:
    return Page([parse(cls, item) for item in data["items"]], data.get("next_cursor"))
