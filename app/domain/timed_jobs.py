"""The hub's timed jobs: what happens because time passed, not because a partner called.

Each job handles one batch of due units in the caller's transaction and returns how many it
handled (the worker runs it again until a batch comes back short). Units are claimed with ``FOR
UPDATE SKIP LOCKED`` and marked done in the transaction that writes their effects, so any number
of workers may run the jobs at once and each unit is handled exactly once
(app.db.repositories.timed).

- **Referral expiry**: a pending referral past ``respond_by`` is stored as ``expired`` (one a read
  already stored as expired is picked up as well); the case's timeline gets an entry, the
  referrer's audit chain a ``referral.expire`` row (client ``aftercare-hub``), and both parties
  ``referral.expired``.
- **Consent expiry**: when a consent's ``expires_at`` passes, the organisations whose entitled
  categories shrank at that moment get ``case.access_revoked`` (with what they still see), once
  per consent; likewise ``case.access_granted`` when a consent recorded before its
  ``obtained_at`` takes effect.
- **Overdue visits**: a home placement with no visit for the visit interval gets one
  ``placement.visit_overdue`` per overdue period (until the next visit), to the organisations
  entitled to the case's ``placement`` category (its lead and such members).
- **Retention**: events older than the retention period are deleted with their deliveries and
  attempts; revoked tokens and idempotency records past their use are pruned (housekeeping).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from app.db.database import Session
from app.db.repositories import events as event_repo
from app.db.repositories import timed as repo
from app.domain.audit import HUB_CLIENT_ID, AuditTrail
from app.domain.crypto import KeyWrapper
from app.domain.events import EventType, Outbox, SubjectType
from app.domain.freetext import case_text
from app.domain.journey_rules import HOME_SETTINGS, VISIT_INTERVAL
from app.domain.maintenance import prune_expired
from app.domain.principal import Principal
from app.domain.updates import append_event
from app.domain.vocabulary import Category

BATCH = 200
# The referral expiry locks the cases it touches until its transaction commits, and writes about
# two statements a referral meanwhile: a request writing to one of them waits for the whole
# batch. A smaller batch keeps that wait to a few milliseconds, even when many referrals fall
# due at once (a backlog after the workers were down is worked off batch after batch).
CASE_LOCK_BATCH = 20
MIN_RETENTION_DAYS = 30
_ONE_MICROSECOND = timedelta(microseconds=1)
# Advisory lock keys of the jobs that are not split into claimed units.
RETENTION_LOCK = 0x61667463_0001  # "aftc" 1
_HOME_SETTINGS = sorted(str(s) for s in HOME_SETTINGS)


def hub_principal(org_id: UUID) -> Principal:
    """The author of a timeline entry the hub writes for ``org_id`` (no token behind it)."""
    return Principal(
        client_id=HUB_CLIENT_ID,
        org_id=org_id,
        scopes=frozenset(),
        jti=UUID(int=0),
        expires_at=0,
    )


async def expire_referrals(
    session: Session, key_wrapper: KeyWrapper, batch: int = CASE_LOCK_BATCH
) -> int:
    """Up to ``batch`` due referrals of at most ``batch`` cases, those cases locked until the
    transaction ends (:data:`CASE_LOCK_BATCH`)."""
    expired = await repo.expire_referrals(session, batch)
    outbox = Outbox(session, actor_org_id=None)
    audit = AuditTrail(session)
    for r in expired:
        text = case_text(
            session,
            key_wrapper,
            r.case_id,
            r.wrapped_key,
            r.kek_id,
            erased=r.identity_erased_at is not None,
        )
        # Category `general`, no survivor data (as every referral transition's entry).
        await append_event(
            session,
            hub_principal(r.from_org_id),
            r.case_id,
            text=text,
            category=Category.GENERAL,
            summary=f"Referral for {r.service.replace('_', ' ')} expired",
            details={
                "referral_id": str(r.id),
                "status": "expired",
                "service": r.service,
                "expired_by": "hub",
            },
        )
        await audit.record_hub(r.from_org_id, "referral.expire", [r.case_id], [Category.GENERAL])
        await outbox.to_orgs(
            EventType.REFERRAL_EXPIRED,
            [r.from_org_id, r.to_org_id],
            subject=(SubjectType.REFERRAL, r.id),
            case_id=r.case_id,
            data={"referral_id": r.id, "status": "expired"},
        )
    return len(expired)


async def expire_consents(session: Session, batch: int = BATCH) -> int:
    """``case.access_revoked`` for what each expired consent took away at its expiry: the
    audience just before ``expires_at`` against the audience at it (the same relationships,
    evaluated at two moments), so only this expiry's effect is announced, in expiry order."""
    consents = await repo.expired_consents(session, batch)
    outbox = Outbox(session, actor_org_id=None)
    for consent in consents:
        before = await outbox.audience(consent.case_id, consent.expires_at - _ONE_MICROSECOND)
        after = await outbox.audience(consent.case_id, consent.expires_at)
        await outbox.access_changed(consent.case_id, before, after)
    if consents:
        await repo.mark_consents(session, [c.id for c in consents])
    return len(consents)


async def activate_consents(session: Session, batch: int = BATCH) -> int:
    """``case.access_granted`` when a consent recorded ahead of its ``obtained_at`` (within the
    clock-skew allowance) takes effect: the audience just before that moment against the
    audience at it, once per consent."""
    consents = await repo.activated_consents(session, batch)
    outbox = Outbox(session, actor_org_id=None)
    for consent in consents:
        moment = consent.expires_at  # here: obtained_at
        before = await outbox.audience(consent.case_id, moment - _ONE_MICROSECOND)
        after = await outbox.audience(consent.case_id, moment)
        await outbox.access_changed(consent.case_id, before, after)
    if consents:
        await repo.mark_activated(session, [c.id for c in consents])
    return len(consents)


async def announce_overdue_visits(session: Session, batch: int = BATCH) -> int:
    overdue = await repo.overdue_visits(
        session,
        limit=batch,
        settings=_HOME_SETTINGS,
        interval_seconds=VISIT_INTERVAL.total_seconds(),
    )
    outbox = Outbox(session, actor_org_id=None)
    for visit in overdue:
        due_on = (visit.basis + VISIT_INTERVAL).astimezone(UTC).date().isoformat()
        await outbox.to_case(
            EventType.PLACEMENT_VISIT_OVERDUE,
            visit.case_id,
            subject=(SubjectType.PLACEMENT, visit.id),
            data={"placement_id": visit.id, "due_on": due_on},
            category=Category.PLACEMENT,
        )
    if overdue:
        await repo.mark_visits(session, [v.id for v in overdue], [v.basis for v in overdue])
    return len(overdue)


async def prune(session: Session, retention_days: int, batch: int = 5000) -> dict[str, int]:
    """Retention and housekeeping, by one worker at a time (the others skip it): events older
    than ``retention_days`` (their deliveries and attempts go with them), expired revoked-token
    and idempotency records. ``{}`` when another worker is at it."""
    if not await repo.try_lock(session, RETENTION_LOCK):
        return {}
    days = max(MIN_RETENTION_DAYS, retention_days)
    before = datetime.now(UTC) - timedelta(days=days)
    events = 0
    while True:
        pruned = await event_repo.prune(session, before, batch)
        events += pruned
        if pruned < batch:
            break
    counts = await prune_expired(session)
    return {"events": events, **counts}


async def next_moment(session: Session) -> datetime | None:
    """When a timed job next has something to do (None: nothing is scheduled)."""
    return await repo.next_moment(
        session, settings=_HOME_SETTINGS, interval_seconds=VISIT_INTERVAL.total_seconds()
    )
