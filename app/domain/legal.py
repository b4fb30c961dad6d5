"""The legal journey: documents, testimony preparation, prosecution, immigration relief."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from app.db.repositories import legal as repo
from app.db.repositories.legal import LegalRecordRow
from app.db.repositories.legal import TestimonyStatusRow as TestimonyStatusRow  # handed up
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.errors import PreconditionFailed
from app.domain.events import EventType
from app.domain.facts import access_of
from app.domain.freetext import CaseText
from app.domain.pagination import KeysetList, Page
from app.domain.updates import append_event
from app.domain.vocabulary import Category, ProsecutionStatus, TestimonyStatus

TESTIMONY_LIST = "testimony"
TESTIMONY = KeysetList(TESTIMONY_LIST, ("last_change", "case_id"), (datetime.fromisoformat, UUID))
TABLE = "legal_records"


@dataclass(slots=True)
class LegalRecord:
    documents: list[dict[str, str]] = field(default_factory=list)
    testimony_status: str = TestimonyStatus.NOT_STARTED.value
    protective_measures: list[str] = field(default_factory=list)
    next_session_at: datetime | None = None
    prosecution_status: str = ProsecutionStatus.NONE.value
    next_hearing_at: datetime | None = None
    immigration_relief_type: str | None = None
    immigration_relief_status: str | None = None
    version: int = 0
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row: LegalRecordRow, text: CaseText) -> LegalRecord:
        return cls(
            documents=list(row.documents),
            testimony_status=row.testimony_status,
            protective_measures=list(row.protective_measures),
            next_session_at=row.next_session_at,
            prosecution_status=row.prosecution_status,
            next_hearing_at=row.next_hearing_at,
            immigration_relief_type=text.open(
                TABLE, row.case_id, "immigration_relief_type", row.immigration_relief_type_enc
            ),
            immigration_relief_status=row.immigration_relief_status,
            version=row.version,
            updated_at=row.updated_at,
        )

    def sections(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "testimony": (self.testimony_status, self.protective_measures, self.next_session_at),
            "prosecution": (self.prosecution_status, self.next_hearing_at),
            "immigration relief": (self.immigration_relief_type, self.immigration_relief_status),
        }


def changed_sections(before: LegalRecord, after: LegalRecord) -> list[str]:
    old, new = before.sections(), after.sections()
    return [name for name in new if old[name] != new[name]]


class LegalService(CaseScopedService):
    async def _load(self, case_id: UUID, *, write: bool) -> LoadedCase:
        return await self.cases.load_for_category(case_id, Category.LEGAL, write=write)

    async def get(self, case_id: UUID) -> LegalRecord:
        loaded = await self._load(case_id, write=False)
        row = await repo.get_audited(
            self.session,
            case_id,
            audit=self.audit.row(self.principal, "legal.read", [case_id], [Category.LEGAL]),
        )
        return LegalRecord.from_row(row, self.cases.text(loaded.row)) if row else LegalRecord()

    async def records_for_cases(self, cases: Sequence[LoadedCase]) -> dict[UUID, LegalRecord]:
        """:meth:`get` for several cases, already loaded and checked for the caller: one
        statement, one audit row; a case whose legal record the caller may not see is absent."""
        loaded = {case.id: case for case in cases}
        visible = [i for i, case in loaded.items() if case.access.sees(Category.LEGAL)]
        if not visible:
            return {}
        rows = {r.case_id: r for r in await repo.get_many(self.session, visible)}
        await self.audit.record(self.principal, "legal.read", visible, [Category.LEGAL])
        return {
            i: LegalRecord.from_row(rows[i], self.cases.text(loaded[i].row))
            if i in rows
            else LegalRecord()
            for i in visible
        }

    async def put(
        self, case_id: UUID, record: LegalRecord, *, expected_version: Collection[int] | None
    ) -> LegalRecord:
        await self.session.begin()
        loaded = await self._load(case_id, write=True)
        text = self.cases.text(loaded.row)
        previous_row = await repo.get(self.session, case_id)
        previous = LegalRecord.from_row(previous_row, text) if previous_row else LegalRecord()
        if expected_version is not None and previous.version not in expected_version:
            raise PreconditionFailed("The legal record has changed; fetch it again")
        if previous_row is not None and not changed_sections(previous, record):
            # The same content again: no write, no new version; the answer is a read.
            await self.audit.record(self.principal, "legal.read", [case_id], [Category.LEGAL])
            return previous
        row = await repo.upsert(
            self.session,
            case_id=case_id,
            expected_version=None if expected_version is None else previous.version,
            documents=record.documents,
            testimony_status=record.testimony_status,
            protective_measures=record.protective_measures,
            next_session_at=record.next_session_at,
            prosecution_status=record.prosecution_status,
            next_hearing_at=record.next_hearing_at,
            relief_type_enc=text.seal(
                TABLE, case_id, "immigration_relief_type", record.immigration_relief_type
            ),
            relief_status=record.immigration_relief_status,
            org_id=self.principal.org_id,
        )
        if row is None:
            raise PreconditionFailed("The legal record has changed; fetch it again")
        saved = LegalRecord.from_row(row, text)
        changed = changed_sections(previous, saved)
        if changed:
            await append_event(
                self.session,
                self.principal,
                case_id,
                text=text,
                category=Category.LEGAL,
                summary="Legal record updated: " + ", ".join(changed),
                details={
                    "changed": changed,
                    "testimony_status": saved.testimony_status,
                    "prosecution_status": saved.prosecution_status,
                },
            )
            await self.outbox.to_case(EventType.CASE_UPDATED, case_id, categories=[Category.LEGAL])
        await self.audit.record(self.principal, "legal.update", [case_id], [Category.LEGAL])
        return saved

    async def testimony(
        self, *, status: TestimonyStatus | None, limit: int, cursor: str | None
    ) -> Page[TestimonyStatusRow]:
        """What a legal advocate polls: one row per case it may see in `legal`."""
        after = TESTIMONY.position(cursor)
        rows = await repo.testimony_page(
            self.session,
            org_id=self.principal.org_id,
            status=str(status) if status else None,
            **TESTIMONY.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = TESTIMONY.page(rows, limit)
        now = datetime.now(UTC)
        visible = [r for r in page.items if access_of(r, self.principal, now).sees(Category.LEGAL)]
        if visible:
            await self.audit.record(
                self.principal, "legal.testimony_list", [r.case_id for r in visible], ["legal"]
            )
        return Page(visible, page.next_cursor)
