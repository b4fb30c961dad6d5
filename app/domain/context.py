"""The caller's context for one request: what every domain service is built from.

One :class:`RequestContext` is built per request, by one function in the API layer
(``app.api.deps.request_context``), for REST and GraphQL alike; services take it whole —
``CaseService(ctx)``, ``ReferralService(ctx)`` — instead of a session, a key wrapper and a
principal passed one by one. Services built from the same context share its unit of work and
its audit trail.

It is the place for per-request collaborators the domain needs. Anything that must happen
atomically with the request's writes is one more attribute here, bound to ``session``: the audit
trail (``ctx.audit``) and the transactional outbox (``ctx.outbox``, :mod:`app.domain.events`),
whose events are written in the same transaction as the change they describe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.db.database import Session
from app.domain.audit import AuditTrail
from app.domain.crypto import KeyWrapper
from app.domain.events import Outbox
from app.domain.facts import AccessMemo
from app.domain.principal import Principal
from app.domain.report_rules import DEFAULT_MIN_CELL

MAX_DETAILS_BYTES = 16_384  # the default of AFTERCARE_MAX_DETAILS_BYTES


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The caller (``principal``), its unit of work (``session``), the key wrapper sealing case
    data keys, the audit trail and the outbox written in that unit of work, and the
    settings-derived limits the services enforce."""

    session: Session
    principal: Principal
    key_wrapper: KeyWrapper
    max_details_bytes: int = MAX_DETAILS_BYTES
    # The smallest count a report publishes (AFTERCARE_REPORT_MIN_CELL_SIZE).
    report_min_cell: int = DEFAULT_MIN_CELL
    # The process's memo of case-read decisions (None: every read decides, then appends).
    access_memo: AccessMemo | None = None
    audit: AuditTrail = field(init=False, repr=False, compare=False)
    outbox: Outbox = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit", AuditTrail(self.session))
        object.__setattr__(self, "outbox", Outbox(self.session, self.principal.org_id))
