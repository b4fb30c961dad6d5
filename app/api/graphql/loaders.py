"""The request's DataLoaders, built fresh for every request (never shared across requests or
organisations: each is bound to one caller's services). Their caches are emptied after every
mutation (``field_extensions.Atomic``), so nothing loaded before a write answers after it.

The lists under a case (referrals, updates, consents, legal, placements, goals, services) are
keyed by the parent case as it was loaded for the caller (``LoadedCase``: its row and the
caller's ``CaseAccess``), so the domain reads them without loading and checking the case a
second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.services import Services
from app.domain.care_plan import Goal, ServiceRecord
from app.domain.cases import CaseView, LoadedCase
from app.domain.consents import Consent
from app.domain.legal import LegalRecord
from app.domain.organizations import Organization
from app.domain.pagination import Page
from app.domain.placements import Placement
from app.domain.referral_rules import ReferralStatus
from app.domain.referrals import ReferralView
from app.domain.updates import TimelineUpdate
from app.domain.vocabulary import CarePlanCategory, Category, GoalStatus, ServiceStatus

T = TypeVar("T")

# The domain's batch read for one (first, after, filter) combination: case id → page.
FetchPages = Callable[
    [list[LoadedCase], int, str | None, str | None], Awaitable[dict[UUID, Page[T]]]
]


@dataclass(frozen=True, slots=True)
class CasePageKey:
    """A page of something of one case. The key is the case id and the page's arguments;
    ``case`` (the case as loaded for the caller) rides along without being part of it."""

    case_id: UUID
    case: LoadedCase = field(compare=False, repr=False)
    first: int = 0
    after: str | None = None
    filter: str | None = None  # a category, a status: whatever the list filters on

    @classmethod
    def of(
        cls, case: LoadedCase, first: int = 0, after: str | None = None, filter: str | None = None
    ) -> CasePageKey:
        return cls(case.id, case, first, after, filter)


async def load_pages(keys: Sequence[CasePageKey], fetch: FetchPages[T]) -> list[Page[T]]:
    """One domain call (one statement) per distinct (first, after, filter) among ``keys`` —
    usually exactly one, since sibling fields in a query share their arguments."""
    groups: dict[tuple[int, str | None, str | None], dict[UUID, LoadedCase]] = {}
    for key in keys:
        groups.setdefault((key.first, key.after, key.filter), {}).setdefault(key.case_id, key.case)
    pages: dict[tuple[UUID, int, str | None, str | None], Page[T]] = {}
    for (first, after, filter_), cases in groups.items():
        found = await fetch(list(cases.values()), first, after, filter_)
        for case_id in cases:
            pages[case_id, first, after, filter_] = found.get(case_id, Page([], None))
    return [pages[key.case_id, key.first, key.after, key.filter] for key in keys]


class CaseByIdLoader(DataLoader[UUID, CaseView | None]):
    """Cases as the caller may see them (None: not visible); audited as one ``case.read``."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[UUID]) -> list[CaseView | None]:
        views = await self._services.cases().get_many(keys)
        return [views.get(key) for key in keys]


class OrganizationByIdLoader(DataLoader[UUID, Organization | None]):
    """Directory entries (public to every partner), one statement per batch."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[UUID]) -> list[Organization | None]:
        found = await self._services.organizations().get_many(keys)
        return [found.get(key) for key in keys]


class UpdatesByCaseLoader(DataLoader[CasePageKey, Page[TimelineUpdate]]):
    """A page of each case's timeline (``filter``: a category), as ``UpdateService.list``
    would give it, in one statement per batch and one ``update.list`` audit row."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[TimelineUpdate]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, category: str | None
    ) -> dict[UUID, Page[TimelineUpdate]]:
        return await self._services.updates().pages_for_cases(
            cases,
            category=Category(category) if category else None,
            limit=first,
            cursor=after,
        )


class ConsentsByCaseLoader(DataLoader[CasePageKey, Page[Consent]]):
    """A page of each case's consents (the lead sees all, others those addressed to them)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[Consent]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, _filter: str | None
    ) -> dict[UUID, Page[Consent]]:
        return await self._services.consents().pages_for_cases(cases, limit=first, cursor=after)


class ReferralsByCaseLoader(DataLoader[CasePageKey, Page[ReferralView]]):
    """A page of each case's referrals that the caller sent or received (``filter``: a
    status), previews audited as ``ReferralService.list`` audits them."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[ReferralView]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, status: str | None
    ) -> dict[UUID, Page[ReferralView]]:
        return await self._services.referrals().pages_for_cases(
            cases,
            status=ReferralStatus(status) if status else None,
            limit=first,
            cursor=after,
        )


class LegalByCaseLoader(DataLoader[CasePageKey, LegalRecord | None]):
    """Each case's legal record (None where the caller may not see `legal`)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[LegalRecord | None]:
        cases = {key.case_id: key.case for key in keys}
        found = await self._services.legal().records_for_cases(list(cases.values()))
        return [found.get(key.case_id) for key in keys]


class PlacementsByCaseLoader(DataLoader[CasePageKey, Page[Placement]]):
    """A page of each case's placements (only where the caller may see `placement`)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[Placement]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, _filter: str | None
    ) -> dict[UUID, Page[Placement]]:
        return await self._services.placements().pages_for_cases(cases, limit=first, cursor=after)


def _care_filter(value: str | None) -> tuple[CarePlanCategory | None, str | None]:
    """A care-plan list's filter key, ``"<category>|<status>"`` (either part may be empty)."""
    category, _, status = (value or "|").partition("|")
    return (CarePlanCategory(category) if category else None), (status or None)


def care_filter(category: CarePlanCategory | None, status: str | None) -> str | None:
    if category is None and status is None:
        return None
    return f"{category or ''}|{status or ''}"


class GoalsByCaseLoader(DataLoader[CasePageKey, Page[Goal]]):
    """A page of each case's goals in the categories the caller may see (``filter``: category
    and status), in one statement per batch and one ``goal.list`` audit row."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[Goal]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, filter_: str | None
    ) -> dict[UUID, Page[Goal]]:
        category, status = _care_filter(filter_)
        return await self._services.care_plan().goal_pages_for_cases(
            cases,
            category=category,
            status=GoalStatus(status) if status else None,
            limit=first,
            cursor=after,
        )


class ServicesByCaseLoader(DataLoader[CasePageKey, Page[ServiceRecord]]):
    """A page of each case's service records in the categories the caller may see (``filter``:
    category and status), in one statement per batch and one ``service.list`` audit row."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[ServiceRecord]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, cases: list[LoadedCase], first: int, after: str | None, filter_: str | None
    ) -> dict[UUID, Page[ServiceRecord]]:
        category, status = _care_filter(filter_)
        return await self._services.care_plan().service_pages_for_cases(
            cases,
            category=category,
            status=ServiceStatus(status) if status else None,
            limit=first,
            cursor=after,
        )


@dataclass(frozen=True, slots=True)
class Loaders:
    case_by_id: CaseByIdLoader
    organization_by_id: OrganizationByIdLoader
    updates_by_case: UpdatesByCaseLoader
    consents_by_case: ConsentsByCaseLoader
    referrals_by_case: ReferralsByCaseLoader
    legal_by_case: LegalByCaseLoader
    placements_by_case: PlacementsByCaseLoader
    goals_by_case: GoalsByCaseLoader
    services_by_case: ServicesByCaseLoader

    def clear_all(self) -> None:
        """Forget everything loaded so far (a mutation may have changed it, or what the caller
        may see of it)."""
        for loader in fields(self):
            getattr(self, loader.name).clear_all()

    @classmethod
    def build(cls, services: Services) -> Loaders:
        return cls(
            case_by_id=CaseByIdLoader(services),
            organization_by_id=OrganizationByIdLoader(services),
            updates_by_case=UpdatesByCaseLoader(services),
            consents_by_case=ConsentsByCaseLoader(services),
            referrals_by_case=ReferralsByCaseLoader(services),
            legal_by_case=LegalByCaseLoader(services),
            placements_by_case=PlacementsByCaseLoader(services),
            goals_by_case=GoalsByCaseLoader(services),
            services_by_case=ServicesByCaseLoader(services),
        )
