"""Closing a case: the lead's decision, and what ends with it.

The case service sits below the services built on a case (referrals, the care plan, the
timeline: each loads its case through it), so a change of the case that reaches into one of
them is made here, above them all, and every import points one way. Closing keeps the care team
(nobody's access moves) and withdraws the case's pending referrals
(:func:`app.domain.referrals.withdraw_pending`), all in the transaction that holds the case's
row lock.
"""

from __future__ import annotations

from uuid import UUID

from app.db.repositories import cases as repo
from app.domain.cases import CaseService, CaseView
from app.domain.context import RequestContext
from app.domain.errors import InvalidTransition
from app.domain.events import EventType
from app.domain.referral_rules import HubWithdrawal
from app.domain.referrals import withdraw_pending
from app.domain.vocabulary import Category


class CaseClosing:
    __slots__ = ("cases",)

    def __init__(self, ctx: RequestContext) -> None:
        self.cases = CaseService(ctx)

    async def close(self, case_id: UUID, reason: str) -> CaseView:
        """Close a case the caller leads (409 when it is closed already)."""
        cases = self.cases
        session = cases.session
        await session.begin()
        loaded = await cases.load_as_lead(case_id)
        text = cases.text(loaded.row)
        reason_enc = text.seal("cases", case_id, "close_reason", reason)
        assert reason_enc is not None
        version = await repo.close(session, case_id, reason_enc)
        if version is None:
            raise InvalidTransition(f"The case is already {loaded.row.status}")
        await cases.audit.record(cases.principal, "case.close", [case_id], [Category.GENERAL])
        async with cases.outbox.batch():
            await cases.outbox.to_case(
                EventType.CASE_CLOSED, case_id, data={"status": "closed", "version": version}
            )
            await withdraw_pending(
                session, cases.principal, cases.outbox, case_id, HubWithdrawal.CASE_CLOSED, text
            )
        return cases.view(await cases.reload(case_id))
