"""A large fictional data set for development and benchmarks (``aftercare demo seed``).

Twenty fictional demo partners (``app.demo.SEED_PARTNERS``, with client credentials saved like
``serve --demo``'s) and ``cases`` fictional survivors led by them, each with ``referrals_per_case``
referrals to other partners in every status, with timestamps spread over two years, plus what
those referrals imply: care-team memberships (active while a referral is accepted or in
progress, ended with it), one consent per case covering what its referrals share, legal records
with testimony statuses, and the events the partners would have been sent.

Everything a partner reads is readable through the API: identity fields and free text are sealed
with a real per-case data key wrapped by the configured KEK, by the domain's own code
(``app.domain.cases.encrypted_identity``, ``DataKey.encrypt_field``), and ``external_ref`` has its
blind index. Rows are built in Python and streamed with binary ``COPY`` in batches, all in one
transaction: an interrupted seed leaves nothing behind. While it runs, that transaction is the
oldest on the server, so change feeds served from the same PostgreSQL server show no newer event
until it commits (the feed's visibility horizon): seed a server nobody else is using. A database
that already holds cases is refused (nothing is written): seed a fresh database. The load ends
with ``VACUUM (ANALYZE)`` of the seeded tables (statistics and the visibility map). Names, dates
and contacts are invented; a fixed random seed gives two runs the same shapes (not the same ids
or keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from app import demo
from app.db.database import Database
from app.db.repositories import bulk
from app.domain.cases import Identity, derive_age, encrypted_identity, new_reference
from app.domain.crypto import KeyWrapper
from app.domain.events import EventType, SubjectType, check_data
from app.domain.referral_rules import ReferralStatus
from app.domain.referrals import STATUS_EVENTS, referral_event_data
from app.domain.vocabulary import (
    Category,
    ExploitationType,
    OrganizationKind,
    ProsecutionStatus,
    ProtectiveMeasure,
    ServiceKind,
    TestimonyStatus,
    service_category,
)

Progress = Callable[[str, int, int], None]

_GIVEN = ("Anong", "Mali", "Nok", "Sai", "Dao", "Lin", "Mya", "Thida", "Kham", "Noy", "Ploy",
          "Aye", "Sok", "Vanna", "Hoa", "Lan", "Ratana", "Chai", "Somchai", "Bao")  # fmt: skip
_FAMILY = ("Demo-Kaew", "Demo-Suk", "Demo-Thong", "Demo-Win", "Demo-Chan", "Demo-Phon",
           "Demo-Sen", "Demo-Lao", "Demo-Mek", "Demo-Rin")  # fmt: skip
_NATIONALITIES = ("TH", "MM", "KH", "LA", "VN", None)
_LANGUAGES = ("th", "my", "km", "lo", "vi", "en")
_GENDERS = (("female", 55), ("male", 35), ("non_binary", 3), ("other", 2), ("undisclosed", 5))
# Final status of a referral, and how often (every status there is).
_STATUSES = (
    (ReferralStatus.PENDING, 12),
    (ReferralStatus.ACCEPTED, 8),
    (ReferralStatus.IN_PROGRESS, 14),
    (ReferralStatus.COMPLETED, 34),
    (ReferralStatus.DECLINED, 12),
    (ReferralStatus.WITHDRAWN, 6),
    (ReferralStatus.EXPIRED, 6),
    (ReferralStatus.FAILED, 8),
)
_ON_TEAM = {ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS}
_WAS_ON_TEAM = {ReferralStatus.COMPLETED, ReferralStatus.FAILED}
_STARTED = {ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED, ReferralStatus.FAILED}
_REASON_CODES = ("no_capacity", "not_eligible", "unable_to_contact", "survivor_declined")
_FAIL_CODES = ("lost_contact", "survivor_declined", "service_unavailable", "other")
_OUTCOME_CODES = ("service_provided", "goal_achieved", "partially_achieved", "referred_elsewhere")
_TESTIMONY = (
    (TestimonyStatus.NOT_STARTED, 25),
    (TestimonyStatus.IN_PREPARATION, 25),
    (TestimonyStatus.READY, 15),
    (TestimonyStatus.TESTIFIED, 20),
    (TestimonyStatus.DECLINED, 8),
    (TestimonyStatus.DEFERRED, 7),
)
_HISTORY = timedelta(days=730)

CASE_COLUMNS = (
    "id", "reference", "lead_org_id", "external_ref_enc", "external_ref_hash", "status",
    "close_reason_enc", "closed_at", "gender", "nationality", "languages", "interpreter_needed",
    "is_minor", "age_band", "given_name_enc", "family_name_enc", "aliases_enc",
    "date_of_birth_enc", "birth_year_enc", "contact_enc", "guardian_enc", "exploitation_types",
    "identified_on", "identified_country", "needs", "risk_level", "created_at", "updated_at",
)  # fmt: skip
KEY_COLUMNS = ("case_id", "wrapped_key", "kek_id", "created_at")
CONSENT_COLUMNS = (
    "id", "case_id", "granted_by", "recipient_kinds", "categories", "purpose_enc", "obtained_at",
    "recorded_by_org_id", "created_at", "updated_at",
)  # fmt: skip
REFERRAL_COLUMNS = (
    "id", "case_id", "from_org_id", "to_org_id", "service", "urgency", "reason_enc",
    "shared_categories", "respond_by", "status", "outcome_enc", "reason_code", "outcome_code",
    "created_by_client_id", "responded_at", "started_at", "ended_at", "expiry_processed_at",
    "created_at", "updated_at", "version",
)  # fmt: skip
MEMBER_COLUMNS = ("id", "case_id", "org_id", "categories", "referral_id", "joined_at", "left_at")
LEGAL_COLUMNS = (
    "case_id", "testimony_status", "protective_measures", "next_session_at",
    "prosecution_status", "next_hearing_at", "updated_by_org_id", "created_at", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "org_id", "type", "occurred_at", "subject_type", "subject_id", "case_id", "data",
)  # fmt: skip


class AlreadySeeded(Exception):
    """The database already holds cases: the demo seed only fills an empty one."""


@dataclass(frozen=True)
class Partner:
    org_id: UUID
    client_id: str
    kind: OrganizationKind
    services: tuple[ServiceKind, ...]


@dataclass
class Batch:
    cases: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    referrals: list[tuple[Any, ...]] = field(default_factory=list)
    members: list[tuple[Any, ...]] = field(default_factory=list)
    legal: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class SeedResult:
    partners: list[dict[str, Any]]
    cases: int
    referrals: int
    members: int
    consents: int
    legal_records: int
    events: int
    seconds: float


_CUMULATIVE: dict[int, tuple[list[Any], list[int]]] = {}


def _weighted(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    values = _CUMULATIVE.get(id(table))
    if values is None:
        values = _CUMULATIVE[id(table)] = (
            [v for v, _ in table],
            list(itertools.accumulate(w for _, w in table)),
        )
    return rng.choices(values[0], cum_weights=values[1])[0]


def _event_data(referral_id: UUID, status: ReferralStatus, **codes: str | None) -> dict[str, Any]:
    """``referral_event_data`` as ``check_data`` stores it (ids as text), without re-checking
    each of a million dicts: the first of each shape is checked."""
    data = referral_event_data(referral_id, status, **codes)
    data["referral_id"] = str(referral_id)
    shape = (status, *sorted(data))
    if shape not in _CHECKED:
        assert check_data(data) == data
        _CHECKED.add(shape)
    return data


_CHECKED: set[tuple[Any, ...]] = set()


class Builder:
    """Builds the rows of one case at a time (pure Python; no database)."""

    def __init__(
        self,
        partners: list[Partner],
        wrapper: KeyWrapper,
        now: datetime,
        *,
        per_case: int,
        seed: int = 14,
    ) -> None:
        self.partners = partners
        self.per_case = per_case
        self.wrapper = wrapper
        self.now = now
        self.rng = random.Random(seed)
        self.references: set[str] = set()

    def _at(self, low: datetime, high: datetime) -> datetime:
        span = max((high - low).total_seconds(), 0.0)
        return low + timedelta(seconds=self.rng.uniform(0, span))

    def _reference(self) -> str:
        while True:
            reference = new_reference()
            if reference not in self.references:
                self.references.add(reference)
                return reference

    def _identity(self, intake: date) -> Identity:
        rng = self.rng
        minor = rng.random() < 0.2
        age = rng.randint(12, 17) if minor else rng.randint(18, 45)
        identity = Identity(
            given_name=rng.choice(_GIVEN),
            family_name=rng.choice(_FAMILY),
            aliases=[rng.choice(_GIVEN)] if rng.random() < 0.1 else [],
            contact={"phone": f"+00 000 {rng.randint(0, 9999):04d}"}
            if rng.random() < 0.6
            else None,
        )
        if rng.random() < 0.7:
            identity.date_of_birth = intake - timedelta(days=age * 365 + rng.randint(30, 330))
        else:
            identity.estimated_birth_year = intake.year - age
        if minor:
            identity.guardian = {
                "name": f"{rng.choice(_GIVEN)} Demo-Guardian",
                "relationship": "aunt",
            }
        return identity

    def case(self, number: int, batch: Batch) -> None:
        rng, now = self.rng, self.now
        lead = rng.choice(self.partners)
        created = self._at(now - _HISTORY, now - timedelta(hours=1))
        case_id = uuid4()
        key, wrapped = self.wrapper.new_data_key(case_id)
        identity = self._identity(created.date())
        is_minor, band = derive_age(identity, created.date())
        external_ref = f"DEMO-{number:07d}"
        referrals = self.referrals(case_id, lead, created, batch, key)
        shared = {c for r in referrals for c in r[7]} or {Category.DEMOGRAPHICS.value}
        last_activity = max([created, *(r[19] for r in referrals)])
        open_referrals = any(r[9] in ("pending", "accepted", "in_progress") for r in referrals)
        closed = not open_referrals and rng.random() < 0.5
        closed_at = self._at(last_activity, now) if closed else None
        updated = closed_at or last_activity
        batch.cases.append(
            (
                case_id,
                self._reference(),
                lead.org_id,
                key.encrypt_field("cases", case_id, "external_ref", external_ref),
                self.wrapper.blind_index(lead.org_id, external_ref),
                "closed" if closed else "open",
                key.encrypt_field("cases", case_id, "close_reason", "Services completed (demo)")
                if closed
                else None,
                closed_at,
                _weighted(rng, _GENDERS),
                rng.choice(_NATIONALITIES),
                sorted(set(rng.sample(_LANGUAGES, rng.randint(1, 2)))),
                rng.random() < 0.3,
                is_minor,
                band,
                *encrypted_identity(key, identity).values(),
                sorted(str(t) for t in rng.sample(list(ExploitationType)[:5], rng.randint(1, 2))),
                (created - timedelta(days=rng.randint(0, 20))).date(),
                "TH",
                sorted({r[4] for r in referrals}),
                rng.choice(("low", "medium", "high", "critical", None)),
                created,
                updated,
            )
        )
        batch.keys.append((case_id, wrapped, self.wrapper.kek_id, created))
        consent_id = uuid4()
        batch.consents.append(
            (
                consent_id,
                case_id,
                ["survivor", "guardian"] if is_minor else ["survivor"],
                sorted(str(k) for k in OrganizationKind),
                sorted(shared),
                key.encrypt_field("consents", consent_id, "purpose", "Referral to services (demo)"),
                created,
                lead.org_id,
                created,
                created,
            )
        )
        self.legal(case_id, lead, created, referrals, batch)

    def referrals(
        self, case_id: UUID, lead: Partner, case_created: datetime, batch: Batch, key: Any
    ) -> list[tuple[Any, ...]]:
        rng, now = self.rng, self.now
        out = []
        for _ in range(self.per_case):
            to = rng.choice(self.partners)
            while to.org_id == lead.org_id:
                to = rng.choice(self.partners)
            service = rng.choice(to.services)
            status: ReferralStatus = _weighted(rng, _STATUSES)
            referral_id = uuid4()
            if status is ReferralStatus.PENDING:
                # Still open: sent in the last two weeks, answer due in the future.
                created = self._at(max(case_created, now - timedelta(days=14)), now)
                respond_by: datetime | None = created + timedelta(days=rng.randint(15, 30))
            else:
                created = self._at(case_created, now - timedelta(days=1))
                respond_by = created + timedelta(days=14) if rng.random() < 0.5 else None
            responded = started = ended = processed = None
            reason_code = outcome_code = None
            if status is ReferralStatus.EXPIRED:
                respond_by = created + timedelta(days=rng.randint(1, 14))
                if respond_by >= now:
                    respond_by = now - timedelta(minutes=1)
                ended = processed = respond_by
            elif status is ReferralStatus.WITHDRAWN:
                ended = self._at(created, now)
            elif status is not ReferralStatus.PENDING:
                responded = self._at(created, min(now, created + timedelta(days=3)))
                if status is ReferralStatus.DECLINED:
                    ended, reason_code = responded, rng.choice(_REASON_CODES)
                if status in _STARTED:
                    started = self._at(responded, min(now, responded + timedelta(days=7)))
                if status is ReferralStatus.COMPLETED:
                    ended = self._at(started or responded, now)
                    outcome_code = rng.choice(_OUTCOME_CODES)
                if status is ReferralStatus.FAILED:
                    ended = self._at(started or responded, now)
                    reason_code = rng.choice(_FAIL_CODES)
            updated = ended or started or responded or created
            category = service_category(service)
            shared = sorted({Category.DEMOGRAPHICS.value, Category.GENERAL.value, category.value})
            row = (
                referral_id, case_id, lead.org_id, to.org_id, service.value,
                rng.choice(("routine", "routine", "high", "emergency")),
                key.encrypt_field("referrals", referral_id, "reason", "Needs support (demo)"),
                shared, respond_by, status.value, None, reason_code, outcome_code,
                lead.client_id, responded, started, ended, processed, created, updated,
                1 + (responded is not None) + (started is not None) + (ended is not None),
            )  # fmt: skip
            out.append(row)
            batch.referrals.append(row)
            if status in _ON_TEAM or status in _WAS_ON_TEAM:
                batch.members.append(
                    (uuid4(), case_id, to.org_id, shared, referral_id, responded,
                     ended if status in _WAS_ON_TEAM else None)
                )  # fmt: skip
            self.events(referral_id, case_id, lead, to, status, row, batch)
        return out

    def events(
        self,
        referral_id: UUID,
        case_id: UUID,
        lead: Partner,
        to: Partner,
        status: ReferralStatus,
        row: tuple[Any, ...],
        batch: Batch,
    ) -> None:
        subject = SubjectType.REFERRAL.value
        created, updated = row[18], row[19]
        batch.events.append(
            (uuid4(), to.org_id, EventType.REFERRAL_CREATED.value, created, subject, referral_id,
             case_id, _event_data(referral_id, ReferralStatus.PENDING))
        )  # fmt: skip
        if status is ReferralStatus.PENDING:
            return
        # The final transition, told to the party that did not act (both for an expiry).
        if status is ReferralStatus.WITHDRAWN:
            told = [to.org_id]
        elif status is ReferralStatus.EXPIRED:
            told = [lead.org_id, to.org_id]
        else:
            told = [lead.org_id]
        data = _event_data(referral_id, status, reason_code=row[11], outcome_code=row[12])
        for org_id in told:
            batch.events.append(
                (uuid4(), org_id, STATUS_EVENTS[status].value, updated, subject, referral_id,
                 case_id, data)
            )  # fmt: skip

    def legal(
        self,
        case_id: UUID,
        lead: Partner,
        created: datetime,
        referrals: list[tuple[Any, ...]],
        batch: Batch,
    ) -> None:
        """A legal record where a legal referral was accepted, and for some of the rest."""
        rng, now = self.rng, self.now
        legal = [
            r for r in referrals if r[4] == "legal" and r[14] is not None and r[9] != "declined"
        ]
        if not legal and rng.random() > 0.15:
            return
        by, since = (legal[0][3], legal[0][14]) if legal else (lead.org_id, created)
        updated = self._at(since, now)
        status: TestimonyStatus = _weighted(rng, _TESTIMONY)
        upcoming = status in (TestimonyStatus.IN_PREPARATION, TestimonyStatus.READY)
        batch.legal.append(
            (
                case_id,
                status.value,
                sorted(str(m) for m in rng.sample(list(ProtectiveMeasure), rng.randint(0, 2))),
                now + timedelta(days=rng.randint(1, 60)) if upcoming else None,
                rng.choice([str(p) for p in ProsecutionStatus]),
                now + timedelta(days=rng.randint(10, 120)) if rng.random() < 0.3 else None,
                by,
                since,
                updated,
            )
        )


async def seed(
    db: Database,
    data_dir: Path,
    wrapper: KeyWrapper,
    *,
    cases: int,
    referrals_per_case: int,
    batch_size: int = 1000,
    progress: Progress | None = None,
    random_seed: int = 14,
) -> SeedResult:
    """Create the twenty demo partners (once) and seed ``cases`` fictional cases in one
    transaction; :class:`AlreadySeeded` when the database holds any case."""
    began = time.monotonic()
    session = db.session(transactional=False)
    try:
        existing = await bulk.count_cases(session)
    finally:
        await session.close()
    if existing:
        raise AlreadySeeded(
            f"the database already holds {existing} cases; demo seed only fills a database "
            "without cases (nothing was written)"
        )
    saved = await demo.seed(db, data_dir, demo.SEED_PARTNERS)
    by_key = {p.key: p for p in demo.SEED_PARTNERS}
    partners = [
        Partner(
            UUID(entry["org_id"]),
            entry["client_id"],
            by_key[entry["partner"]].kind,
            by_key[entry["partner"]].services,
        )
        for entry in saved
    ]
    builder = Builder(
        partners, wrapper, datetime.now(UTC), per_case=referrals_per_case, seed=random_seed
    )
    totals = dict.fromkeys(("referrals", "members", "consents", "legal", "events"), 0)
    session = db.session(transactional=True)

    def build(start: int) -> Batch:
        batch = Batch()
        for number in range(start, min(cases, start + batch_size)):
            builder.case(number + 1, batch)
        return batch

    pending: asyncio.Task[Batch] | None = None
    try:
        done = 0
        if progress:
            progress("cases", 0, cases)
        # The next batch is built in a thread while this one is copied (the copy mostly waits
        # for the server).
        pending = asyncio.create_task(asyncio.to_thread(build, 0))
        while done < cases:
            batch = await pending
            if done + len(batch.cases) < cases:
                pending = asyncio.create_task(asyncio.to_thread(build, done + len(batch.cases)))
            # Foreign keys: cases before what refers to them.
            await bulk.copy(session, "cases", CASE_COLUMNS, batch.cases)
            await bulk.copy(session, "case_keys", KEY_COLUMNS, batch.keys)
            totals["consents"] += await bulk.copy(
                session, "consents", CONSENT_COLUMNS, batch.consents
            )
            totals["referrals"] += await bulk.copy(
                session, "referrals", REFERRAL_COLUMNS, batch.referrals
            )
            totals["members"] += await bulk.copy(
                session, "case_members", MEMBER_COLUMNS, batch.members
            )
            totals["legal"] += await bulk.copy(session, "legal_records", LEGAL_COLUMNS, batch.legal)
            totals["events"] += await bulk.copy(session, "events", EVENT_COLUMNS, batch.events)
            done += len(batch.cases)
            if progress:
                progress("cases", done, cases)
        if progress:
            progress("committing", 0, 1)
        await session.commit()
        if progress:
            progress("committing", 1, 1)
    except BaseException:
        if pending is not None and not pending.done():  # let the batch being built finish
            with contextlib.suppress(BaseException):
                await pending
        await session.rollback()
        raise
    finally:
        await session.close()
    session = db.session(transactional=False)
    try:
        if progress:
            progress("analyze", 0, 1)
        await bulk.analyze(session)
        if progress:
            progress("analyze", 1, 1)
    finally:
        await session.close()
    return SeedResult(
        partners=saved,
        cases=cases,
        referrals=totals["referrals"],
        members=totals["members"],
        consents=totals["consents"],
        legal_records=totals["legal"],
        events=totals["events"],
        seconds=round(time.monotonic() - began, 1),
    )
