"""The request's DataLoaders, built fresh for every request (never shared across requests or
organisations: each is bound to one caller's services). Their caches are emptied after every
mutation (``field_extensions.Atomic``), so nothing loaded before a write answers after it.

The lists under a case (referrals, updates, consents, legal, placements, goals, services) are
keyed by the parent case as it was loaded for the caller (``LoadedCase``: its row and the
caller's ``CaseAccess``), so the domain reads them without loading and checking the case a
second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, Protocol, TypeVar, cast
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


K = TypeVar("K")
V = TypeVar("V")

NOT_READY: Any = object()


def ready(loader: DataLoader[K, V], key: K) -> V:
    """What ``loader`` already holds for ``key``, loaded without error, or ``NOT_READY``: a
    resolver that finds its value loaded answers it at once, without an awaitable (graphql-core
    then completes the field without a task of its own)."""
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return cast("V", NOT_READY)
    return future.result()


# Each loader's batch function is a plain function of what it fetches with, never a method of
# the loader: a loader that held its own bound method would be a reference cycle, and all it
# loaded (the request's rows and views) would outlive the request until a full garbage
# collection, whose cost grows with them (tests/graphql/test_batching.py checks a request
# leaves no cycle behind).
class ByIdLoader(DataLoader[UUID, V | None]):
    """Things by id, one domain call (one statement) per batch; ``None`` where there is none
    (or the caller may not see it)."""

    def __init__(self, fetch: Callable[[list[UUID]], Awaitable[Mapping[UUID, V]]]) -> None:
        super().__init__(load_fn=partial(_by_id, fetch))


async def _by_id(
    fetch: Callable[[list[UUID]], Awaitable[Mapping[UUID, V]]], keys: list[UUID]
) -> list[V | None]:
    found = await fetch(keys)
    return [found.get(key) for key in keys]


class CasePagesLoader(DataLoader[CasePageKey, Page[T]]):
    """A page of a list under each case (:func:`load_pages`), as the list's REST endpoint
    would give it, in one statement per batch."""

    def __init__(self, fetch: FetchPages[T]) -> None:
        super().__init__(load_fn=partial(_pages, fetch))


async def _pages(fetch: FetchPages[T], keys: list[CasePageKey]) -> list[Page[T]]:
    return await load_pages(keys, fetch)


class LegalByCaseLoader(DataLoader[CasePageKey, LegalRecord | None]):
    """Each case's legal record (None where the caller may not see `legal`)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=partial(_legal_records, services))


async def _legal_records(services: Services, keys: list[CasePageKey]) -> list[LegalRecord | None]:
    cases = {key.case_id: key.case for key in keys}
    found = await services.legal().records_for_cases(list(cases.values()))
    return [found.get(key.case_id) for key in keys]


S = TypeVar("S", GoalStatus, ServiceStatus)
S_contra = TypeVar("S_contra", GoalStatus, ServiceStatus, contravariant=True)


class _CarePlanPages(Protocol[S_contra, T]):
    """``CarePlanService.goal_pages_for_cases`` or ``service_pages_for_cases``."""

    def __call__(
        self,
        cases: Sequence[LoadedCase],
        *,
        category: CarePlanCategory | None,
        status: S_contra | None,
        limit: int,
        cursor: str | None,
    ) -> Awaitable[dict[UUID, Page[T]]]: ...


def _care_plan_pages(
    pages_for_cases: Callable[[], _CarePlanPages[S, T]], status: Callable[[str], S]
) -> FetchPages[T]:
    """The batch read of a goals or services loader: the domain's ``*_pages_for_cases`` (looked
    up per call: the services are the request's), its filter key ``"<category>|<status>"``
    (either part may be empty, see :func:`care_filter`) split into the two filters."""

    async def fetch(
        cases: list[LoadedCase], first: int, after: str | None, filter_: str | None
    ) -> dict[UUID, Page[T]]:
        category, _, state = (filter_ or "|").partition("|")
        return await pages_for_cases()(
            cases,
            category=CarePlanCategory(category) if category else None,
            status=status(state) if state else None,
            limit=first,
            cursor=after,
        )

    return fetch


def care_filter(category: CarePlanCategory | None, status: str | None) -> str | None:
    if category is None and status is None:
        return None
    return f"{category or ''}|{status or ''}"


@dataclass(frozen=True, slots=True)
class Loaders:
    # Cases as the caller may see them (None: not visible); audited as one `case.read`.
    case_by_id: ByIdLoader[CaseView]
    # Directory entries (public to every partner).
    organization_by_id: ByIdLoader[Organization]
    # A page of each case's timeline (`filter`: a category); one `update.list` audit row.
    updates_by_case: CasePagesLoader[TimelineUpdate]
    # A page of each case's consents (the lead sees all, others those addressed to them).
    consents_by_case: CasePagesLoader[Consent]
    # A page of each case's referrals that the caller sent or received (`filter`: a status),
    # previews audited as `ReferralService.list` audits them.
    referrals_by_case: CasePagesLoader[ReferralView]
    legal_by_case: LegalByCaseLoader
    # A page of each case's placements (only where the caller may see `placement`).
    placements_by_case: CasePagesLoader[Placement]
    # A page of each case's goals / service records in the categories the caller may see
    # (`filter`: category and status, see care_filter); one `goal.list` / `service.list` row.
    goals_by_case: CasePagesLoader[Goal]
    services_by_case: CasePagesLoader[ServiceRecord]

    def clear_all(self) -> None:
        """Forget everything loaded so far (a mutation may have changed it, or what the caller
        may see of it)."""
        for loader in fields(self):
            getattr(self, loader.name).clear_all()

    @classmethod
    def build(cls, services: Services) -> Loaders:
        async def updates(
            cases: list[LoadedCase], first: int, after: str | None, category: str | None
        ) -> dict[UUID, Page[TimelineUpdate]]:
            return await services.updates().pages_for_cases(
                cases, category=Category(category) if category else None, limit=first, cursor=after
            )

        async def consents(
            cases: list[LoadedCase], first: int, after: str | None, _filter: str | None
        ) -> dict[UUID, Page[Consent]]:
            return await services.consents().pages_for_cases(cases, limit=first, cursor=after)

        async def referrals(
            cases: list[LoadedCase], first: int, after: str | None, status: str | None
        ) -> dict[UUID, Page[ReferralView]]:
            return await services.referrals().pages_for_cases(
                cases,
                status=ReferralStatus(status) if status else None,
                limit=first,
                cursor=after,
            )

        async def placements(
            cases: list[LoadedCase], first: int, after: str | None, _filter: str | None
        ) -> dict[UUID, Page[Placement]]:
            return await services.placements().pages_for_cases(cases, limit=first, cursor=after)

        async def cases_by_id(ids: list[UUID]) -> Mapping[UUID, CaseView]:
            return await services.cases().get_many(ids)

        async def organizations_by_id(ids: list[UUID]) -> Mapping[UUID, Organization]:
            return await services.organizations().get_many(ids)

        return cls(
            case_by_id=ByIdLoader(cases_by_id),
            organization_by_id=ByIdLoader(organizations_by_id),
            updates_by_case=CasePagesLoader(updates),
            consents_by_case=CasePagesLoader(consents),
            referrals_by_case=CasePagesLoader(referrals),
            legal_by_case=LegalByCaseLoader(services),
            placements_by_case=CasePagesLoader(placements),
            goals_by_case=CasePagesLoader(
                _care_plan_pages(lambda: services.care_plan().goal_pages_for_cases, GoalStatus)
            ),
            services_by_case=CasePagesLoader(
                _care_plan_pages(
                    lambda: services.care_plan().service_pages_for_cases, ServiceStatus
                )
            ),
        )
