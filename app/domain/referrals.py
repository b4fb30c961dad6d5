"""Referrals between partners: closed-loop, consent-checked, capacity-aware (CONTRACT "Referrals").

Rules live in ``app.domain.referral_rules`` (pure); visibility of the case itself stays with the
one access policy (``app.domain.access``): accepting a referral puts the receiver on the care
team, ending it takes the receiver off again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from app.db.database import Session
from app.db.repositories import cases as case_repo
from app.db.repositories import consents as consent_repo
from app.db.repositories import organizations as org_repo
from app.db.repositories import referrals as repo
from app.db.repositories.referrals import ReferralRow
from app.domain.access import ALL_CATEGORIES, ConsentFacts, covered_categories
from app.domain.audit import AuditTrail
from app.domain.care_plan import owner_left
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.errors import (
    Conflict,
    ConsentRequired,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from app.domain.events import EventType, Outbox, SubjectType
from app.domain.freetext import CaseText, case_text
from app.domain.pagination import KeysetList, Page
from app.domain.principal import Principal
from app.domain.referral_rules import (
    DEFAULT_CODES,
    Action,
    HubWithdrawal,
    Party,
    ReferralStatus,
    Transition,
    check_case,
    effective_status,
    ends_care,
    expected_lead,
    holds_capacity,
    transition,
    uncovered_categories,
)
from app.domain.updates import append_event
from app.domain.vocabulary import Category, ServiceKind, Urgency, service_category

LIST_NAME = "referrals"
REFERRALS = KeysetList(LIST_NAME, ("created_at", "id"), (datetime.fromisoformat, UUID))
TABLE = "referrals"
PREVIEW_CATEGORIES = (Category.DEMOGRAPHICS, Category.EXPLOITATION, Category.GENERAL)


@dataclass(frozen=True, slots=True)
class ReferralInput:
    case_id: UUID
    to_org_id: UUID
    service: ServiceKind
    urgency: Urgency
    reason: str
    shared_categories: list[Category]
    respond_by: datetime | None = None
    transfer_lead: bool = False


# The event each status a referral moves to is announced with (to the other party).
STATUS_EVENTS: dict[ReferralStatus, EventType] = {
    ReferralStatus.PENDING: EventType.REFERRAL_CREATED,
    ReferralStatus.ACCEPTED: EventType.REFERRAL_ACCEPTED,
    ReferralStatus.DECLINED: EventType.REFERRAL_DECLINED,
    ReferralStatus.IN_PROGRESS: EventType.REFERRAL_STARTED,
    ReferralStatus.COMPLETED: EventType.REFERRAL_COMPLETED,
    ReferralStatus.FAILED: EventType.REFERRAL_FAILED,
    ReferralStatus.WITHDRAWN: EventType.REFERRAL_WITHDRAWN,
    ReferralStatus.EXPIRED: EventType.REFERRAL_EXPIRED,
}


def referral_event_data(
    referral_id: UUID,
    status: ReferralStatus,
    *,
    reason_code: str | None = None,
    outcome_code: str | None = None,
) -> dict[str, Any]:
    """What a referral event carries: the referral, its new status and, when there is one, the
    coded reason or outcome (never the free-text reason or outcome)."""
    data: dict[str, Any] = {"referral_id": referral_id, "status": str(status)}
    if reason_code is not None:
        data["reason_code"] = reason_code
    if outcome_code is not None:
        data["outcome_code"] = outcome_code
    return data


def coded(rule: Transition, given: str | None) -> dict[str, str | None]:
    """The transition's code column (``reason_code`` or ``outcome_code``) as it is stored: what
    the caller gave or the default; nothing for a transition without a code."""
    if rule.code is None:
        return {}
    return {rule.code.value: given if given is not None else DEFAULT_CODES[rule.code]}


# The receiver learns the case reference once it has been on the care team.
ACCEPTED_ONCE = frozenset(
    {ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED,
     ReferralStatus.FAILED}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ReferralView:
    """A referral as its sender or receiver sees it: the row (free text still sealed in its
    ``*_enc`` columns), and its text opened when read (``reason``, ``status_reason``,
    ``outcome``: a page that does not show them unwraps no data key and opens nothing)."""

    row: ReferralRow
    party: Party
    preview: dict[str, Any] | None
    # The case's CaseText (its data key unwrapped at most once per unit of work).
    text: Callable[[], CaseText] = field(repr=False, compare=False)

    @property
    def reason(self) -> str:
        reason: str = self.text().open(TABLE, self.row.id, "reason", self.row.reason_enc)
        return reason

    @property
    def status_reason(self) -> str | None:
        row = self.row
        if row.status_reason_enc is None:  # (most referrals: no case text to look up)
            return None
        opened: str | None = self.text().open(TABLE, row.id, "status_reason", row.status_reason_enc)
        return opened

    @property
    def outcome(self) -> str | None:
        row = self.row
        if row.outcome_enc is None:
            return None
        opened: str | None = self.text().open(TABLE, row.id, "outcome", row.outcome_enc)
        return opened

    @property
    def status(self) -> ReferralStatus:
        return ReferralStatus(self.row.status)

    @property
    def case_reference(self) -> str | None:
        """The case's reference: for the sender, and for the receiver once it has been on the
        care team (accepted, whatever happened after)."""
        row = self.row
        if self.party is Party.SENDER or row.started_at is not None or self.status in ACCEPTED_ONCE:
            return row.case_reference
        return None


def _party(row: ReferralRow, org_id: UUID) -> Party:
    return Party.SENDER if row.from_org_id == org_id else Party.RECEIVER


def preview_of(row: ReferralRow) -> dict[str, Any]:
    """The de-identified preview a receiver decides on: never names, dates, contact, places."""
    return {
        "age_band": row.age_band,
        "gender": row.gender,
        "languages": row.languages,
        "interpreter_needed": row.interpreter_needed,
        "needs": row.needs,
        "urgency": row.urgency,
        "is_minor": row.is_minor,
        "exploitation_types": row.exploitation_types,
    }


def _view(row: ReferralRow, org_id: UUID, text: Callable[[], CaseText]) -> ReferralView:
    party = _party(row, org_id)
    pending = row.status == ReferralStatus.PENDING
    return ReferralView(
        row, party, preview_of(row) if party is Party.RECEIVER and pending else None, text
    )


class ReferralService(CaseScopedService):
    # -- free text (reason, status_reason, outcome: encrypted with the case's data key) -------
    def _text(self, row: ReferralRow) -> CaseText:
        return case_text(
            self.session,
            self.cases.keyring,
            row.case_id,
            row.wrapped_key,
            row.kek_id,
            erased=row.identity_erased_at is not None,
        )

    def _view(self, row: ReferralRow) -> ReferralView:
        return _view(row, self.principal.org_id, partial(self._text, row))

    # -- reads ------------------------------------------------------------------------------
    async def _row(self, referral_id: UUID) -> ReferralRow:
        row = await repo.get(self.session, referral_id, self.principal.org_id)
        if row is None:
            raise NotFound("No such referral")
        return row

    async def get(self, referral_id: UUID) -> ReferralView:
        row = await self._row(referral_id)
        if (
            row.stored_status == "pending"
            and row.status == "expired"
            and not self.session.in_transaction
        ):
            # Store what it already reads as. Not inside a transaction (a GraphQL mutation's
            # idempotent replay): that would hold the referral's row before its case, the
            # other way round from a transition, until the transaction ends. The workers'
            # expiry stores it soon anyway.
            await repo.expire_one(self.session, referral_id)
            row = await self._row(referral_id)
        view = self._view(row)
        await self._audit([view], "referral.read")
        return view

    async def list(
        self,
        *,
        direction: str | None,
        status: ReferralStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[ReferralView]:
        after = REFERRALS.position(cursor)
        rows = await repo.page(
            self.session,
            direction=direction,
            org_id=self.principal.org_id,
            status=str(status) if status else None,
            **REFERRALS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = REFERRALS.page(rows, limit)
        views = [self._view(r) for r in page.items]
        await self._audit(views, "referral.list")
        return Page(views, page.next_cursor)

    async def pages_for_cases(
        self,
        cases: Sequence[LoadedCase],
        *,
        status: ReferralStatus | None,
        limit: int,
        cursor: str | None,
    ) -> dict[UUID, Page[ReferralView]]:
        """The referrals of several cases (those the caller sent or received, as :meth:`get`
        decides), in one statement. The cases were already loaded and checked for the caller
        (only a case the caller may see is ever loaded)."""
        loaded = {case.id: case for case in cases}
        if not loaded:
            return {}
        after = REFERRALS.position(cursor)
        rows = await repo.pages_for_cases(
            self.session,
            {case_id: case.row for case_id, case in loaded.items()},
            org_id=self.principal.org_id,
            status=str(status) if status else None,
            **REFERRALS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        pages = REFERRALS.pages(
            rows,
            lambda r: r.case_id,
            list(loaded),
            limit,
        )
        views = {
            i: Page([self._view(r) for r in page.items], page.next_cursor)
            for i, page in pages.items()
        }
        await self._audit([v for p in views.values() for v in p.items], "referral.list")
        return views

    async def _audit(self, views: Sequence[ReferralView], action: str) -> None:
        """Audit what a read showed. A referral's reason, status reason and outcome belong to
        its service's category. The previews a pending receiver reads (with the reason it
        decides on) are one ``referral.preview`` row: the preview's categories and their
        services'; every other referral, one ``action`` row in its services' categories. An
        empty page writes nothing; a page with both writes both rows."""
        previewed: list[UUID] = []
        preview_categories: set[Category] = set(PREVIEW_CATEGORIES)
        shown: list[UUID] = []
        categories: set[Category] = set()
        for view in views:
            if view.preview is not None:
                previewed.append(view.row.case_id)
                preview_categories.add(service_category(view.row.service))
            else:
                shown.append(view.row.case_id)
                categories.add(service_category(view.row.service))
        if previewed:
            await self.audit.record(
                self.principal, "referral.preview", previewed, preview_categories
            )
        if shown:
            await self.audit.record(self.principal, action, shown, categories)

    # -- writes -----------------------------------------------------------------------------
    async def create(self, data: ReferralInput) -> ReferralView:
        await self.session.begin()
        loaded = await self.cases.load_as_lead(data.case_id)
        if loaded.row.status != "open":
            raise Conflict("A closed case cannot be referred")
        if data.to_org_id == self.principal.org_id:
            raise ValidationFailed("A referral goes to another organisation", loc=["to_org_id"])
        recipient = await org_repo.get(self.session, data.to_org_id)
        if recipient is None:
            raise ValidationFailed("No such organization", loc=["to_org_id"])
        now = datetime.now(UTC)
        if data.respond_by is not None and data.respond_by <= now:
            raise ValidationFailed("respond_by must be in the future", loc=["respond_by"])
        # A lead transfer hands over the whole case: it shares every category.
        shared = (
            ALL_CATEGORIES
            if data.transfer_lead
            else frozenset(data.shared_categories) | {Category.DEMOGRAPHICS}
        )
        await self._require_consent(data.case_id, data.to_org_id, recipient.kind, shared, now)
        referral_id = uuid4()
        created = await repo.insert(
            self.session,
            repo.case_part(loaded.row),
            id=referral_id,
            case_id=data.case_id,
            from_org_id=self.principal.org_id,
            to_org_id=data.to_org_id,
            service=str(data.service),
            urgency=str(data.urgency),
            reason_enc=self.cases.text(loaded.row).seal(TABLE, referral_id, "reason", data.reason),
            shared_categories=sorted(str(c) for c in shared),
            respond_by=data.respond_by,
            transfer_lead=data.transfer_lead,
            created_by_client_id=self.principal.client_id,
        )
        await self._timeline(
            self.cases.text(loaded.row), data.case_id, referral_id, "sent", str(data.service)
        )
        await self.audit.record(self.principal, "referral.create", [data.case_id], shared)
        # A pending referral gives the receiver no access to the case yet (only the preview).
        await self.outbox.to_orgs(
            EventType.REFERRAL_CREATED,
            [data.to_org_id],
            subject=(SubjectType.REFERRAL, referral_id),
            case_id=data.case_id,
            data=referral_event_data(referral_id, ReferralStatus.PENDING),
        )
        return self._view(created)

    async def _require_consent(
        self,
        case_id: UUID,
        recipient_id: UUID,
        recipient_kind: str,
        shared: frozenset[Category],
        now: datetime,
    ) -> None:
        consents = await consent_repo.list_page(
            self.session,
            case_id=case_id,
            only_for_org=recipient_id,
            only_for_kind=recipient_kind,
            after_ts=None,
            after_id=None,
            limit=1000,
        )
        covered = covered_categories(
            [
                ConsentFacts(
                    categories=frozenset(Category(c) for c in r.categories),
                    obtained_at=r.obtained_at,
                    expires_at=r.expires_at,
                    revoked_at=r.revoked_at,
                    recipient_org_id=r.recipient_org_id,
                    recipient_kinds=frozenset(r.recipient_kinds),
                )
                for r in consents
            ],
            org_id=recipient_id,
            org_kind=recipient_kind,
            now=now,
        )
        missing = uncovered_categories(shared, covered)
        if missing:
            raise ConsentRequired(
                "No active consent covers sharing " + ", ".join(missing) + " with this recipient",
                loc=["shared_categories"],
                uncovered_categories=[str(c) for c in missing],
            )

    async def act(
        self,
        referral_id: UUID,
        action: Action,
        *,
        reason: str | None = None,
        outcome: str | None = None,
        code: str | None = None,
    ) -> ReferralView:
        """Move a referral by ``action``. ``reason``/``outcome`` is the transition's note and
        ``code`` its coded reason or outcome (``rule.code``; its default when left out)."""
        await self.session.begin()
        # Lock the case row before reading and deciding: a close, a lead transfer, an erasure or
        # another transfer's accept waits for this transaction (or this one for it, and the read
        # below then sees what it did, the case's data key included).
        case = await repo.lock_case_of(self.session, referral_id, self.principal.org_id)
        if case is None:
            raise NotFound("No such referral")
        row = await self._row(referral_id)
        now = datetime.now(UTC)
        current = effective_status(ReferralStatus(row.stored_status), row.respond_by, now)
        rule = transition(
            action, current, _party(row, self.principal.org_id), transfer_lead=row.transfer_lead
        )
        lead = expected_lead(
            from_org_id=row.from_org_id,
            to_org_id=row.to_org_id,
            transfer_lead=row.transfer_lead,
            current=current,
        )
        check_case(
            rule,
            current,
            case_open=case.status == "open",
            lead_unchanged=case.lead_org_id == lead,
        )
        case_id, service = row.case_id, ServiceKind(row.service)
        codes = coded(rule, code)
        # Accepting puts an organisation on the care team (a lead transfer also moves the lead);
        # ending an active referral takes it off: who sees what moves, inside `watching`.
        moves_access = action is Action.ACCEPT or ends_care(current, rule)
        watch: AbstractAsyncContextManager[None] = (
            self.outbox.watching(case_id) if moves_access else nullcontext()
        )
        async with self.outbox.batch():
            async with watch:
                # The conditional update runs first: concurrent transitions serialise on the row
                # and all but one find the status already changed.
                moved = await repo.transition_row(
                    self.session,
                    repo.case_part_of(row),
                    id=referral_id,
                    expected_status=str(current),
                    status=str(rule.target),
                    status_reason_enc=self._text(row).seal(
                        TABLE, referral_id, "status_reason", reason
                    ),
                    outcome_enc=self._text(row).seal(TABLE, referral_id, "outcome", outcome),
                    capacity_held=row.capacity_held,
                    reason_code=codes.get("reason_code"),
                    outcome_code=codes.get("outcome_code"),
                )
                if moved is None:
                    raise InvalidTransition("The referral changed meanwhile; fetch it again")
                if action is Action.ACCEPT:
                    if await self._join(row, service):
                        moved = replace(moved, capacity_held=True)
                elif ends_care(current, rule):
                    await case_repo.end_referral_membership(self.session, referral_id)
                    # Goals the departing member owns stay; the lead is told (care_plan).
                    member = row.from_org_id if row.transfer_lead else row.to_org_id
                    await owner_left(self.session, self.outbox, case_id, member)
                    if row.capacity_held:
                        await repo.give_back_place(self.session, row.to_org_id, str(service))
                        await repo.set_capacity_held(self.session, referral_id, False)
                        moved = replace(moved, capacity_held=False)
            await self._timeline(
                self._text(row), case_id, referral_id, str(rule.target), str(service)
            )
            # The answer shows the referral's reason and outcome: the service's category too.
            await self.audit.record(
                self.principal,
                f"referral.{action.value}",
                [case_id],
                {Category.GENERAL, service_category(service)},
            )
            # To the other party (the actor hears nothing of its own act).
            await self.outbox.to_orgs(
                STATUS_EVENTS[rule.target],
                [row.from_org_id, row.to_org_id],
                subject=(SubjectType.REFERRAL, referral_id),
                case_id=case_id,
                data=referral_event_data(referral_id, rule.target, **codes),
            )
            if action is Action.ACCEPT and row.transfer_lead:
                await self.outbox.to_case(
                    EventType.CASE_LEAD_TRANSFERRED,
                    case_id,
                    data={
                        "lead_org_id": row.to_org_id,
                        "previous_lead_org_id": row.from_org_id,
                        "referral_id": referral_id,
                    },
                )
                # The sender no longer leads: what it still had pending on the case goes.
                await withdraw_pending(
                    self.session,
                    self.principal,
                    self.outbox,
                    case_id,
                    HubWithdrawal.LEAD_CHANGED,
                    self._text(row),
                )
        return self._view(moved)

    async def _join(self, row: ReferralRow, service: ServiceKind) -> bool:
        """Put the receiver on the care team (or make it the lead); True when a place of
        ``service`` was taken for it."""
        held = False
        if row.transfer_lead:
            # The new lead will see everything: the consent must still cover it all now.
            recipient = await org_repo.get(self.session, row.to_org_id)
            assert recipient is not None
            await self._require_consent(
                row.case_id,
                row.to_org_id,
                recipient.kind,
                ALL_CATEGORIES,
                datetime.now(UTC),
            )
        if holds_capacity(service):
            taken = await repo.take_place(self.session, row.to_org_id, str(service))
            if taken is False:
                raise Conflict(
                    "No free place for this service: update your capacity before accepting"
                )
            if taken:
                await repo.set_capacity_held(self.session, row.id, True)
                held = True
        if row.transfer_lead:
            # The receiver becomes the lead; the previous lead stays on the care team with the
            # categories it shared, until the referral ends.
            await case_repo.set_lead(self.session, row.case_id, row.to_org_id)
            member = row.from_org_id
        else:
            member = row.to_org_id
        await case_repo.add_member(
            self.session,
            id=uuid4(),
            case_id=row.case_id,
            org_id=member,
            categories=list(row.shared_categories),
            referral_id=row.id,
        )
        return held

    async def _timeline(
        self, text: CaseText, case_id: UUID, referral_id: UUID, status: str, service: str
    ) -> None:
        await _timeline(self.session, self.principal, text, case_id, referral_id, status, service)


async def _timeline(
    session: Session,
    principal: Principal,
    text: CaseText,
    case_id: UUID,
    referral_id: UUID,
    status: str,
    service: str,
    **extra: str,
) -> None:
    # No survivor data: who (the author) did what, when. Filed under the service's category (a
    # referral for legal help is legal information, need-to-know like the rest of it).
    await append_event(
        session,
        principal,
        case_id,
        text=text,
        category=service_category(service),
        summary=f"Referral for {service.replace('_', ' ')} {status.replace('_', ' ')}",
        details={"referral_id": str(referral_id), "status": status, "service": service, **extra},
    )


async def withdraw_pending(
    session: Session,
    principal: Principal,
    outbox: Outbox,
    case_id: UUID,
    why: HubWithdrawal,
    text: CaseText,
) -> int:
    """The hub withdraws every referral of the case still pending, because the case closed or
    its lead changed (CONTRACT "Referral outcomes"). Runs in the caller's transaction, which holds
    the case row lock, so no referral can be created or accepted on the case meanwhile. Each one
    moves through the same conditional update as any transition and gets a timeline entry; one
    `referral.hub_withdraw` audit row names the case. ``text`` is the case's free-text cipher.
    Each receiver gets ``referral.withdrawn`` with ``reason_code`` ``case_closed`` or
    ``lead_changed`` (the sender is the one who closed the case, or learns of the new lead by
    ``case.lead_transferred``)."""
    cause = "case_closed" if why is HubWithdrawal.CASE_CLOSED else "lead_changed"
    withdrawn = 0
    for r in await repo.pending_of_case(session, case_id):
        moved = await repo.transition(
            session,
            id=r.id,
            expected_status=str(ReferralStatus.PENDING),
            status=str(ReferralStatus.WITHDRAWN),
            status_reason_enc=text.seal(TABLE, r.id, "status_reason", str(why)),
            outcome_enc=None,
            capacity_held=False,  # a pending referral holds no place
            reason_code=None,  # the hub's own reasons are not a receiver's coded reasons
            outcome_code=None,
        )
        if not moved:  # it expired meanwhile (a read stores that without the case lock)
            continue
        withdrawn += 1
        await _timeline(
            session,
            principal,
            text,
            case_id,
            r.id,
            str(ReferralStatus.WITHDRAWN),
            r.service,
            withdrawn_by="hub",
            cause=cause,
        )
        await outbox.to_orgs(
            EventType.REFERRAL_WITHDRAWN,
            [r.to_org_id],
            subject=(SubjectType.REFERRAL, r.id),
            case_id=case_id,
            data=referral_event_data(r.id, ReferralStatus.WITHDRAWN, reason_code=cause),
        )
    if withdrawn:
        await AuditTrail(session).record(
            principal, "referral.hub_withdraw", [case_id], [Category.GENERAL]
        )
    return withdrawn


async def expire_overdue(session: Session) -> int:
    """The sweep: store `expired` on pending referrals whose deadline passed."""
    return await repo.expire_due(session)
