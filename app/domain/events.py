"""Events: what the hub tells partners, decided by the one access policy, written with the change.

Every change the contract lists emits its events through the caller's :class:`Outbox`
(``ctx.outbox``), in the transaction that makes the change: a rolled-back change emits nothing, a
committed one never loses its events. There is no after-commit hook and no second transaction.

Recipients are decided when the event is written:

- a case event goes to the organisations that may see the case at that moment (its lead and its
  active care-team members, :func:`audience_of`), and a category-specific one only to those
  entitled to that category (:func:`app.domain.access.entitled_categories`: the organisation's
  relationship and consents, not any one token's scopes);
- a referral event goes to the other party of the referral (both for ``referral.expired``);
- the actor's own organisation never hears about its own act; the access changes it causes
  (``case.access_granted``/``case.access_revoked``) are consequences, reported to every
  organisation concerned, the actor included.

Access changes are computed, not remembered: wrap a change that may move who sees what in
``async with ctx.outbox.watching(case_id):`` and the organisations whose entitled categories
shrank get ``case.access_revoked`` (with what they still see, ``[]`` when they lost the case) and
those whose categories grew get ``case.access_granted``.

Payloads are id-only: ``data`` may hold ids, statuses, codes, category names and versions under
the keys of :data:`DATA_KEYS`, never a name, a date of birth, a contact, free text or a category's
content. :func:`check_data` refuses anything else (a programming error, caught by the tests).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from app.db.database import Session
from app.db.notify import Notifications
from app.db.repositories import events as repo
from app.db.repositories.events import AudienceRow, EventRow
from app.domain.access import LEAD, Relationship, Role, entitled_categories
from app.domain.errors import CursorExpired
from app.domain.facts import consent_facts
from app.domain.pagination import KeysetList, Page
from app.domain.vocabulary import Category


class EventType(StrEnum):
    REFERRAL_CREATED = "referral.created"
    REFERRAL_ACCEPTED = "referral.accepted"
    REFERRAL_DECLINED = "referral.declined"
    REFERRAL_STARTED = "referral.started"
    REFERRAL_COMPLETED = "referral.completed"
    REFERRAL_FAILED = "referral.failed"
    REFERRAL_WITHDRAWN = "referral.withdrawn"
    REFERRAL_EXPIRED = "referral.expired"
    CASE_UPDATED = "case.updated"
    CASE_UPDATE_ADDED = "case.update_added"
    CASE_ACCESS_GRANTED = "case.access_granted"
    CASE_ACCESS_REVOKED = "case.access_revoked"
    CASE_LEAD_TRANSFERRED = "case.lead_transferred"
    CASE_CLOSED = "case.closed"
    CASE_IDENTITY_ERASED = "case.identity_erased"
    CONSENT_REVOKED = "consent.revoked"
    CASE_RISK_RAISED = "case.risk_raised"
    GOAL_CREATED = "goal.created"
    GOAL_UPDATED = "goal.updated"
    SERVICE_CREATED = "service.created"
    SERVICE_UPDATED = "service.updated"
    FOLLOW_UP_RECORDED = "follow_up.recorded"
    PLACEMENT_VISIT_OVERDUE = "placement.visit_overdue"
    WEBHOOK_DISABLED = "webhook.disabled"
    WEBHOOK_TEST = "webhook.test"


class SubjectType(StrEnum):
    CASE = "case"
    CASE_UPDATE = "case_update"
    CONSENT = "consent"
    REFERRAL = "referral"
    GOAL = "goal"
    SERVICE = "service"
    FOLLOW_UP = "follow_up"
    PLACEMENT = "placement"
    WEBHOOK = "webhook"


# What `data` may carry: ids, statuses, codes, category names, versions. Nothing else.
DATA_KEYS = frozenset(
    {
        "categories",
        "category",
        "visible_categories",
        "status",
        "previous_status",
        "outcome",
        "outcome_code",
        "risk_level",
        "previous_risk_level",
        "version",
        "kind",
        "referral_id",
        "consent_id",
        "update_id",
        "goal_id",
        "service_id",
        "placement_id",
        "visit_id",
        "follow_up_id",
        "webhook_id",
        "from_org_id",
        "to_org_id",
        "lead_org_id",
        "previous_lead_org_id",
        "due_on",
        "reason_code",
    }
)
_TOKEN = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _plain_value(value: Any) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, UUID):
        return True
    if isinstance(value, str):
        return bool(_TOKEN.fullmatch(value) or _DAY.fullmatch(value))
    return False


def check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as stored, after checking that it holds only what an event may carry (ids,
    statuses, codes, category names, versions, days); a :class:`ValueError` otherwise."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in DATA_KEYS:
            raise ValueError(f"event data may not carry {key!r}")
        values = value if isinstance(value, list | tuple | frozenset | set) else [value]
        if not all(_plain_value(v) for v in values):
            raise ValueError(f"event data {key!r} must hold ids, codes or versions only")
        if isinstance(value, list | tuple | frozenset | set):
            out[key] = [str(v) if isinstance(v, UUID) else v for v in _ordered(value)]
        else:
            out[key] = str(value) if isinstance(value, UUID) else value
    return out


def _ordered(values: Iterable[Any]) -> list[Any]:
    items = list(values)
    if isinstance(values, set | frozenset):
        order = {c: i for i, c in enumerate(Category)}
        items.sort(key=lambda v: (order.get(v, len(order)), str(v)))
    return items


def sorted_categories(categories: Iterable[Category | str]) -> list[str]:
    order = {c.value: i for i, c in enumerate(Category)}
    return sorted({str(c) for c in categories}, key=lambda c: order.get(c, len(order)))


# -- who may hear: the access policy, per organisation -----------------------------------------
Audience = dict[UUID, frozenset[Category]]


def audience_of(rows: Sequence[AudienceRow], now: datetime) -> Audience:
    """What each organisation related to a case is entitled to see of it at ``now`` (the lead:
    everything; a care-team member: demographics and its consented shared categories)."""
    audience: Audience = {}
    for row in rows:
        if row.org_id == row.lead_org_id:
            relationship = LEAD
        elif row.member_categories is not None:
            relationship = Relationship(
                Role.CARE_TEAM, frozenset(Category(c) for c in row.member_categories)
            )
        else:  # pragma: no cover - the statement selects only the lead and members
            continue
        entitled = entitled_categories(
            relationship,
            consent_facts(row.consents),
            org_id=row.org_id,
            org_kind=row.caller_kind,
            now=now,
        )
        if entitled:
            audience[row.org_id] = entitled
    return audience


@dataclass(frozen=True, slots=True)
class AccessChange:
    org_id: UUID
    type: EventType
    visible: frozenset[Category]


def access_changes(before: Audience, after: Audience) -> list[AccessChange]:
    """``case.access_revoked`` for each organisation that lost a category, and
    ``case.access_granted`` for each that gained one (both when it did both), each with what it
    may see after the change."""
    changes: list[AccessChange] = []
    for org_id in sorted(before.keys() | after.keys()):
        was = before.get(org_id, frozenset())
        now = after.get(org_id, frozenset())
        if was - now:
            changes.append(AccessChange(org_id, EventType.CASE_ACCESS_REVOKED, now))
        if now - was:
            changes.append(AccessChange(org_id, EventType.CASE_ACCESS_GRANTED, now))
    return changes


# -- writing -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Outbox:
    """The events of one unit of work, written in its transaction (``ctx.outbox``).

    ``actor_org_id`` is the acting organisation (None for the hub's own timed jobs): it never
    receives an event for its own act.
    """

    session: Session
    actor_org_id: UUID | None
    written: int = field(default=0, init=False)
    _pending: list[dict[str, Any]] | None = field(default=None, init=False, repr=False)
    _audiences: dict[UUID, Audience] = field(default_factory=dict, init=False, repr=False)
    _known: dict[UUID, tuple[UUID, list[dict[str, Any]]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _consequences: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Collect the events written inside and append them in one statement at the end (a
        change that emits several events — its own, access changes, hub withdrawals — writes
        them together). Nested batches join the outer one; on an error nothing is written (the
        transaction is rolled back anyway).

        Access changes come last in the batch: a partner reads what happened (the referral
        ended) before what it did to its access.

        Inside a batch a case's audience is read once (by the first :meth:`to_case`, or the
        closing read of :meth:`watching`) and reused: emit a batch's case events after the
        change they describe, never before and after a change of who sees the case."""
        if self._pending is not None:
            yield
            return
        self._pending = []
        try:
            yield
            events, self._pending = self._pending + self._consequences, None
            await self._append(events)
        finally:
            self._pending = None
            self._audiences.clear()
            self._consequences = []

    async def audience(self, case_id: UUID, now: datetime | None = None) -> Audience:
        rows = await repo.audience(self.session, case_id)
        return audience_of(rows, now or datetime.now(UTC))

    def know_audience(self, case_id: UUID, lead_org_id: UUID, facts: list[dict[str, Any]]) -> None:
        """The case's audience as its locked load read it (``LockedCaseRow.audience``): the next
        :meth:`to_case` about the case uses it instead of reading it again. Nothing else may
        change who sees the case while this transaction holds its lock, and this transaction
        changes it only inside :meth:`watching`, which forgets what is known here. It serves
        the unit of work that loaded the case: a GraphQL mutation forgets it when it ends
        (:meth:`forget_audiences`), as the rollback of its savepoint releases the lock."""
        self._known[case_id] = (lead_org_id, facts)  # rows built only if an event needs them

    def forget_audiences(self) -> None:
        """Forget every audience :meth:`know_audience` was given: the next event about a case
        reads its audience again, unless a new locked load hands it over first."""
        self._known.clear()

    async def to_case(
        self,
        type: EventType,
        case_id: UUID,
        *,
        subject: tuple[SubjectType, UUID] | None = None,
        data: Mapping[str, Any] | None = None,
        category: Category | None = None,
        categories: Iterable[Category] | None = None,
    ) -> int:
        """An event about a case, to every organisation that may see it now (and, with
        ``category``, that category; with ``categories``, at least one of them — ``data``
        then carries ``categories``: those of them the recipient may see)."""
        audience = self._audiences.get(case_id)
        if audience is None:
            known = self._known.pop(case_id, None)
            if known is not None:
                audience = audience_of(repo.audience_rows(*known), datetime.now(UTC))
            else:
                audience = await self.audience(case_id)
            if self._pending is not None:
                self._audiences[case_id] = audience
        wanted = frozenset(categories) if categories is not None else None
        events: list[dict[str, Any]] = []
        for org_id, entitled in audience.items():
            if org_id == self.actor_org_id:
                continue
            if category is not None and category not in entitled:
                continue
            payload = dict(data or {})
            if wanted is not None:
                seen = wanted & entitled
                if not seen:
                    continue
                payload["categories"] = sorted_categories(seen)
            events.append(
                _event(type, org_id, subject or (SubjectType.CASE, case_id), case_id, payload)
            )
        return await self._append(events)

    async def to_orgs(
        self,
        type: EventType,
        org_ids: Iterable[UUID | None],
        *,
        subject: tuple[SubjectType, UUID],
        case_id: UUID | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """An event to named organisations (the parties of a referral, a case's lead, a
        webhook's owner), never to the actor."""
        recipients = dict.fromkeys(o for o in org_ids if o is not None and o != self.actor_org_id)
        return await self._append(
            [_event(type, org_id, subject, case_id, dict(data or {})) for org_id in recipients]
        )

    @asynccontextmanager
    async def watching(self, case_id: UUID, *, now: datetime | None = None) -> AsyncIterator[None]:
        """Around a change that may move who sees what of a case: afterwards, the organisations
        whose entitlement shrank or grew get ``case.access_revoked`` / ``case.access_granted``.
        ``now`` is when the change takes effect (a consent's expiry, for the worker)."""
        moment = now or datetime.now(UTC)
        self._audiences.pop(case_id, None)
        self._known.pop(case_id, None)
        before = await self.audience(case_id, moment)
        yield
        after = await self.audience(case_id, max(moment, datetime.now(UTC)))
        if self._pending is not None:
            self._audiences[case_id] = after
        await self.access_changed(case_id, before, after)

    async def access_changed(self, case_id: UUID, before: Audience, after: Audience) -> int:
        events = [
            _event(
                change.type,
                change.org_id,
                (SubjectType.CASE, case_id),
                case_id,
                {"visible_categories": sorted_categories(change.visible)},
            )
            # Access changes go to every organisation concerned, the actor included: completing
            # its own referral is the receiver's act, losing the case is its consequence, and
            # the removal signal is what keeps every copy of the case in step (CONTRACT: the
            # receiver of a completed referral hears that it lost the case).
            for change in access_changes(before, after)
        ]
        if self._pending is not None:
            self._consequences.extend(events)
            return len(events)
        return await self._append(events)

    async def _append(self, events: list[dict[str, Any]]) -> int:
        if not events:
            return 0
        if self._pending is not None:
            self._pending.extend(events)
            return len(events)
        await repo.append(self.session, events)
        self.written += len(events)
        return len(events)


def _event(
    type: EventType,
    org_id: UUID,
    subject: tuple[SubjectType, UUID],
    case_id: UUID | None,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "id": uuid4(),
        "org_id": org_id,
        "type": type.value,
        "subject_type": subject[0].value,
        "subject_id": subject[1],
        "case_id": case_id,
        "data": check_data(data),
    }


# -- reading: the change feed ------------------------------------------------------------------
EVENT_LIST = KeysetList("events", ("txid", "seq"), (int, int))
MAX_WAIT_SECONDS = 30


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as partners see it (the feed, GraphQL, webhook bodies)."""

    id: UUID
    type: str
    occurred_at: datetime
    subject_type: str
    subject_id: UUID
    case_id: UUID | None
    data: dict[str, Any]
    txid: int
    seq: int

    @classmethod
    def of(cls, row: EventRow) -> EventView:
        return cls(
            row.id,
            row.type,
            row.occurred_at,
            row.subject_type,
            row.subject_id,
            row.case_id,
            row.data,
            row.txid,
            row.seq,
        )

    def body(self) -> dict[str, Any]:
        """The event's JSON object (CONTRACT: id, type, occurred_at, subject, case_id, data)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "subject": {"type": self.subject_type, "id": str(self.subject_id)},
            "case_id": str(self.case_id) if self.case_id else None,
            "data": self.data,
        }


def recheck_pause(pause: float, woken: bool, first: float, last: float, safety: float) -> float:
    """How long a long poll waits next after waiting ``pause`` and finding nothing visible:
    just woken, ``first``; still unseen after a recheck, twice as long up to ``last``; after
    that (or after a plain timeout), ``safety``."""
    if woken:
        return first
    if pause < last:
        return min(pause * 2, last)
    return safety


class EventFeed:
    """The caller's change feed: its events, oldest first, with long polling.

    A page holds the events after the ``after`` cursor that are visible now (see
    app.db.repositories.events for why visibility waits for older transactions). ``next_cursor``
    is never empty: after a page that was not full it points past everything that can no longer
    appear before it, so an idle partner's cursor keeps moving with the feed and never expires
    while it keeps polling. With ``wait`` the call holds an empty answer open until an event
    for the caller commits (woken by ``NOTIFY``, not by polling) or the time is up; the database
    connection is given back while it waits.
    """

    # After a wake-up whose event is not visible yet (an older transaction still runs), look
    # again this soon, then twice as late each time up to the last recheck (about 1.3 s in all:
    # on a loaded server older transactions can outlive the first recheck); and never trust
    # silence longer than this (a notification lost while the listening connection was being
    # replaced).
    RECHECK_SECONDS = 0.02
    LAST_RECHECK_SECONDS = 0.64
    SAFETY_SECONDS = 5.0

    def __init__(self, session: Session, org_id: UUID, notifications: Notifications | None):
        self.session = session
        self.org_id = org_id
        self.notifications = notifications

    async def read(
        self,
        *,
        after: str | None,
        types: Sequence[EventType] | None,
        limit: int,
        wait: float = 0.0,
        still_allowed: Callable[[], Awaitable[object]] | None = None,
    ) -> Page[EventView]:
        """One page; with ``wait``, held open until an event arrives. ``still_allowed`` runs
        after each wait, before the page is read again: the caller's credentials are checked
        anew (a token revoked while the poll waited ends it with that refusal)."""
        position = EVENT_LIST.position(after, "after")
        txid, seq = position if position is not None else (0, 0)
        type_names = [t.value for t in types] if types else None
        if wait <= 0 or self.notifications is None:
            return await self._page(txid, seq, type_names, limit, expiring=after is not None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait, MAX_WAIT_SECONDS)
        with self.notifications.interest(str(self.org_id)) as interest:
            pause = self.SAFETY_SECONDS
            while True:
                page = await self._page(txid, seq, type_names, limit, expiring=after is not None)
                remaining = deadline - loop.time()
                if page.items or remaining <= 0:
                    return page
                await self.session.close()  # hand the connection back while waiting
                woken = await interest.wait(min(remaining, pause))
                if still_allowed is not None:
                    await still_allowed()
                pause = recheck_pause(
                    pause,
                    woken,
                    self.RECHECK_SECONDS,
                    self.LAST_RECHECK_SECONDS,
                    self.SAFETY_SECONDS,
                )

    async def _page(
        self, txid: int, seq: int, types: list[str] | None, limit: int, *, expiring: bool
    ) -> Page[EventView]:
        feed = await repo.page(
            self.session,
            org_id=self.org_id,
            after_txid=txid,
            after_seq=seq,
            limit=limit,
            types=types,
        )
        if expiring and feed.pruned_txid and txid <= feed.pruned_txid:
            raise CursorExpired(
                "Events after this cursor are no longer kept; start again without `after`"
            )
        items = [EventView.of(row) for row in feed.rows]
        last = (items[-1].txid, items[-1].seq) if items else (txid, seq)
        if len(items) < limit:
            # Nothing visible is left after `last`, and whatever becomes visible later belongs
            # to a transaction at least as new as the horizon.
            last = max(last, (feed.horizon, 0))
        return Page(items, EVENT_LIST.at(*last))


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the workers still have to deliver: pending webhook deliveries, and how long the
    oldest one that is due has been waiting (seconds; 0 when none is due)."""

    pending: int
    lag_seconds: float


async def delivery_backlog(session: Session) -> Backlog:
    pending, lag = await repo.delivery_backlog(session)
    return Backlog(pending, lag)
