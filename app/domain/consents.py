"""Consent: which categories may go to which partner, for what purpose, until when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from app.db.repositories import cases as case_repo
from app.db.repositories import consents as repo
from app.db.repositories import organizations as org_repo
from app.db.repositories.consents import ConsentRow
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.errors import InvalidTransition, NotFound, ValidationFailed
from app.domain.events import EventType, SubjectType
from app.domain.freetext import CaseText
from app.domain.pagination import KeysetList, Page
from app.domain.vocabulary import Category, Granter

LIST_NAME = "consents"
CONSENTS = KeysetList(LIST_NAME, ("created_at", "id"), (datetime.fromisoformat, UUID))
TABLE = "consents"
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ConsentInput:
    granted_by: list[Granter]
    categories: list[Category]
    purpose: str
    obtained_at: datetime
    recipient_org_id: UUID | None = None
    recipient_kinds: list[str] | None = None
    expires_at: datetime | None = None
    evidence_ref: str | None = None


def consent_status(
    *,
    obtained_at: datetime,
    expires_at: datetime | None,
    revoked_at: datetime | None,
    now: datetime,
) -> str:
    """``revoked``, ``expired``, ``pending`` (obtained_at still ahead) or ``active``, at ``now``."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    if obtained_at > now:
        return "pending"
    return "active"


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent record with its free text opened."""

    id: UUID
    case_id: UUID
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

    def status(self, now: datetime) -> str:
        return consent_status(
            obtained_at=self.obtained_at,
            expires_at=self.expires_at,
            revoked_at=self.revoked_at,
            now=now,
        )

    @classmethod
    def of(cls, row: ConsentRow, text: CaseText) -> Consent:
        return cls(
            id=row.id,
            case_id=row.case_id,
            granted_by=row.granted_by,
            recipient_org_id=row.recipient_org_id,
            recipient_kinds=row.recipient_kinds,
            categories=row.categories,
            purpose=text.open_column(TABLE, row, "purpose"),
            obtained_at=row.obtained_at,
            expires_at=row.expires_at,
            evidence_ref=text.open_column(TABLE, row, "evidence_ref"),
            revoked_at=row.revoked_at,
            revoke_reason=text.open_column(TABLE, row, "revoke_reason"),
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


def addressed_to(row: ConsentRow, org_id: UUID, org_kind: str) -> bool:
    """Is the consent addressed to this organisation (by its id, or by its kind)?"""
    return row.recipient_org_id == org_id or org_kind in (row.recipient_kinds or [])


def check_consent(
    data: ConsentInput, *, is_minor: bool, now: datetime, lead_org_id: UUID | None = None
) -> None:
    """Consent rules as a pure function (raises ``ValidationFailed``)."""
    if (data.recipient_org_id is None) == (not data.recipient_kinds):
        raise ValidationFailed(
            "Give exactly one of recipient_org_id and recipient_kinds",
            loc=["recipient_org_id"],
        )
    if lead_org_id is not None and data.recipient_org_id == lead_org_id:
        # The lead sees the whole case without one; a consent naming itself would only
        # outlive its lead role (kept after a transfer, unasked by the new lead).
        raise ValidationFailed(
            "A consent names another organisation than the case's lead",
            loc=["recipient_org_id"],
        )
    if is_minor and Granter.GUARDIAN not in data.granted_by:
        raise ValidationFailed("A minor's consent must include the guardian", loc=["granted_by"])
    if data.obtained_at > now + CLOCK_SKEW:
        raise ValidationFailed("obtained_at is in the future", loc=["obtained_at"])
    if data.expires_at is not None and data.expires_at <= data.obtained_at:
        raise ValidationFailed("expires_at must be after obtained_at", loc=["expires_at"])


class ConsentService(CaseScopedService):
    async def grant(self, case_id: UUID, data: ConsentInput) -> Consent:
        await self.session.begin()
        loaded = await self.cases.load_as_lead(case_id)
        check_consent(
            data,
            is_minor=loaded.row.is_minor,
            now=datetime.now(UTC),
            lead_org_id=self.principal.org_id,
        )
        if (
            data.recipient_org_id is not None
            and await org_repo.get(self.session, data.recipient_org_id) is None
        ):
            raise ValidationFailed("No such organization", loc=["recipient_org_id"])
        text = self.cases.text(loaded.row)
        consent_id = uuid4()
        # A consent may widen what a care-team member sees (the case row is locked by now).
        async with self.outbox.watching(case_id):
            row = await repo.insert(
                self.session,
                id=consent_id,
                case_id=case_id,
                granted_by=sorted({str(g) for g in data.granted_by}),
                recipient_org_id=data.recipient_org_id,
                recipient_kinds=sorted(set(data.recipient_kinds or [])),
                categories=sorted({str(c) for c in data.categories}),
                obtained_at=data.obtained_at,
                expires_at=data.expires_at,
                recorded_by_org_id=self.principal.org_id,
                **text.seal_all(
                    TABLE, consent_id, purpose=data.purpose, evidence_ref=data.evidence_ref
                ),
            )
        await case_repo.touch(self.session, case_id)
        await self.audit.record(self.principal, "consent.grant", [case_id], data.categories)
        return Consent.of(row, text)

    async def list(self, case_id: UUID, *, limit: int, cursor: str | None) -> Page[Consent]:
        loaded = await self.cases.load(case_id)
        after = CONSENTS.position(cursor)
        rows = await repo.list_page_audited(
            self.session,
            case_id=case_id,
            only_for_org=None if loaded.access.is_lead else self.principal.org_id,
            only_for_kind=None if loaded.access.is_lead else loaded.row.caller_kind,
            **CONSENTS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
            # Appended only when the page has a consent (an empty page records nothing).
            audit=self.audit.row(self.principal, "consent.list", [case_id]),
        )
        page = CONSENTS.page(rows, limit)
        text = self.cases.text(loaded.row)
        return Page([Consent.of(r, text) for r in page.items], page.next_cursor)

    async def pages_for_cases(
        self, cases: Sequence[LoadedCase], *, limit: int, cursor: str | None
    ) -> dict[UUID, Page[Consent]]:
        """:meth:`list` for several cases, already loaded and checked for the caller (so not
        again), in one statement."""
        loaded = {case.id: case for case in cases}
        if not loaded:
            return {}
        after = CONSENTS.position(cursor)
        caller_kind = next(iter(loaded.values())).row.caller_kind
        rows = await repo.pages_for_cases(
            self.session,
            case_ids=list(loaded),
            lead_case_ids=[i for i, case in loaded.items() if case.access.is_lead],
            org_id=self.principal.org_id,
            org_kind=caller_kind,
            **CONSENTS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        pages = CONSENTS.pages(
            rows,
            lambda r: r.case_id,
            list(loaded),
            limit,
        )
        return {
            i: Page(
                [Consent.of(r, self.cases.text(loaded[i].row)) for r in page.items],
                page.next_cursor,
            )
            for i, page in pages.items()
        }

    async def get(self, case_id: UUID, consent_id: UUID) -> Consent:
        loaded = await self.cases.load(case_id)
        row = await repo.get(self.session, consent_id, case_id)
        addressed = row is not None and addressed_to(
            row, self.principal.org_id, loaded.row.caller_kind
        )
        if row is None or not (loaded.access.is_lead or addressed):
            raise NotFound("No such consent")
        await self.audit.record(self.principal, "consent.read", [case_id])
        return Consent.of(row, self.cases.text(loaded.row))

    async def revoke(self, case_id: UUID, consent_id: UUID, reason: str) -> Consent:
        """The lead revokes any consent of its case; the organisation a consent names (by id)
        may revoke that one, recording the survivor's withdrawal where she told it, and the
        lead hears of it (``consent.revoked``). A consent addressed to a kind covers other
        partners too: only the lead, who recorded it, revokes it. Anyone else: 404."""
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        if not loaded.access.is_lead:
            named = await repo.get(self.session, consent_id, case_id)
            if named is None or named.recipient_org_id != self.principal.org_id:
                raise NotFound("No such consent")
        text = self.cases.text(loaded.row)
        reason_enc = text.seal(TABLE, consent_id, "revoke_reason", reason)
        async with self.outbox.batch():
            # Revocation takes effect at once: members lose what it covered, inside `watching`.
            async with self.outbox.watching(case_id):
                row = await repo.revoke(self.session, consent_id, case_id, reason_enc)
                if row is None:
                    if await repo.get(self.session, consent_id, case_id) is None:
                        raise NotFound("No such consent")
                    raise InvalidTransition("The consent is already revoked")
            await case_repo.touch(self.session, case_id)
            await self.audit.record(self.principal, "consent.revoke", [case_id], row.categories)
            # To the lead, when the organisation the consent named revoked it (never to the
            # actor; the hub's own expiry is `case.access_revoked`, from the worker).
            await self.outbox.to_orgs(
                EventType.CONSENT_REVOKED,
                [loaded.row.lead_org_id],
                subject=(SubjectType.CONSENT, consent_id),
                case_id=case_id,
                data={"consent_id": consent_id, "status": "revoked"},
            )
        return Consent.of(row, text)
