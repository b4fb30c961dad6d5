"""Follow-up after exit, against re-exploitation (category `general`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from app.db.repositories import followups as repo
from app.db.repositories.followups import DueFollowUpRow
from app.db.repositories.followups import FollowUpRow as FollowUpRow  # handed up
from app.domain.cases import CaseScopedService
from app.domain.errors import Conflict, NotFound, ValidationFailed
from app.domain.events import EventType, SubjectType
from app.domain.facts import access_of
from app.domain.journey_rules import raised_risk, risk_went_up
from app.domain.pagination import KeysetList, Page
from app.domain.updates import append_event
from app.domain.vocabulary import Category, FollowUpOutcome, RiskLevel, UpdateKind

DUE_LIST = "follow-ups"
DUE_FOLLOW_UPS = KeysetList(DUE_LIST, ("due_on", "id"), (date.fromisoformat, UUID))
_OUTCOME_WORDS = {FollowUpOutcome.RE_EXPLOITED: "re-exploited"}
CLOCK_SKEW = timedelta(minutes=5)


class FollowUpService(CaseScopedService):
    async def schedule(self, case_id: UUID, due_on: date) -> FollowUpRow:
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        if Category.GENERAL not in loaded.access.writable:
            raise NotFound("No such case")
        row = await repo.insert(
            self.session, id=uuid4(), case_id=case_id, org_id=self.principal.org_id, due_on=due_on
        )
        await self.audit.record(self.principal, "follow_up.schedule", [case_id], ["general"])
        return row

    async def record(
        self,
        case_id: UUID,
        follow_up_id: UUID,
        *,
        contacted_at: datetime,
        outcome: FollowUpOutcome,
    ) -> FollowUpRow:
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        current = await repo.get(self.session, follow_up_id, case_id)
        mine = current is not None and current.org_id == self.principal.org_id
        if current is None or not (mine or loaded.access.is_lead):
            raise NotFound("No such follow-up")
        if current.recorded_at is not None:
            raise Conflict("The follow-up has already been recorded")
        if contacted_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed("contacted_at is in the future", loc=["contacted_at"])
        row = await repo.record(
            self.session,
            id=follow_up_id,
            case_id=case_id,
            contacted_at=contacted_at,
            outcome=str(outcome),
        )
        if row is None:
            raise Conflict("The follow-up has already been recorded")
        risk = loaded.row.risk_level
        current_risk = RiskLevel(risk) if risk else None
        new_risk = raised_risk(current_risk, outcome)
        summary = f"Follow-up: {_OUTCOME_WORDS.get(outcome, outcome.value.replace('_', ' '))}"
        details: dict[str, Any] = {"follow_up_id": str(follow_up_id), "outcome": str(outcome)}
        if new_risk is not None and new_risk != current_risk:
            await repo.set_risk(self.session, case_id, str(new_risk))
            summary += f"; risk level raised to {new_risk.value}"
            details["risk_level"] = str(new_risk)
        await append_event(
            self.session,
            self.principal,
            case_id,
            text=self.cases.text(loaded.row),
            category=Category.GENERAL,
            summary=summary,
            details=details,
            kind=UpdateKind.FOLLOW_UP,
            occurred_at=contacted_at,
        )
        await self.audit.record(self.principal, "follow_up.record", [case_id], ["general"])
        # Follow-ups are `general`: only organisations entitled to it hear of them.
        async with self.outbox.batch():
            await self.outbox.to_case(
                EventType.FOLLOW_UP_RECORDED,
                case_id,
                subject=(SubjectType.FOLLOW_UP, follow_up_id),
                data={"follow_up_id": follow_up_id, "outcome": str(outcome)},
                category=Category.GENERAL,
            )
            if new_risk is not None and risk_went_up(risk, str(new_risk)):
                await self.outbox.to_case(
                    EventType.CASE_RISK_RAISED,
                    case_id,
                    data={"risk_level": str(new_risk), "previous_risk_level": risk},
                    category=Category.GENERAL,
                )
        return row

    async def due(
        self, *, due_before: date, limit: int, cursor: str | None
    ) -> Page[DueFollowUpRow]:
        """The caller's follow-ups not yet recorded and due on or before ``due_before``."""
        after = DUE_FOLLOW_UPS.position(cursor)
        rows = await repo.due_page(
            self.session,
            org_id=self.principal.org_id,
            due_before=due_before,
            **DUE_FOLLOW_UPS.bind(after, "after_due", "after_id"),
            limit=limit + 1,
        )
        page = DUE_FOLLOW_UPS.page(rows, limit)
        now = datetime.now(UTC)
        visible = [r for r in page.items if access_of(r, self.principal, now).is_visible]
        if visible:
            await self.audit.record(
                self.principal, "follow_up.list", [r.case_id for r in visible], ["general"]
            )
        return Page(visible, page.next_cursor)
