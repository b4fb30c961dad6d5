"""A case and everything seen through it: the survivor (contact, guardian, exploitation), its
timeline, consents, legal record, placements, goals, service records and referrals (with their
de-identified preview).

Each type is built straight from the domain's view (``X.of``), with the same values REST
answers with. A ``Case`` carries the case as it was loaded for the caller (``loaded``: the row
and the caller's ``CaseAccess``); the lists under it hand that to the domain through the
loaders, so the case is not loaded and checked again for each list.

That is safe because a ``Case`` never outlives what it was checked against: within a query the
whole request reads one snapshot, and after a mutation (``field_extensions.Atomic``) the loaders
forget everything, so a case reached through a referral (``Referral.case``) is loaded and
checked afresh, while a case a mutation returns was made by that mutation from what it just
wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter
from typing import Any, TypeVar, cast
from uuid import UUID

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Undefined

from app.api.graphql.connections import (
    DEFAULT_FIRST,
    Connection,
    connection,
    consent_cursor,
    goal_cursor,
    page_size,
    placement_cursor,
    referral_cursor,
    service_cursor,
    update_cursor,
)
from app.api.graphql.context import Info
from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.loaders import (
    NOT_READY,
    CasePageKey,
    CasePagesLoader,
    Loaders,
    care_filter,
    ready,
)
from app.api.graphql.types.enums import (
    CarePlanCategory,
    CaseRole,
    CaseStatus,
    Category,
    ConsentStatus,
    GoalStatus,
    ProsecutionStatus,
    ProtectiveMeasure,
    ReferralDirection,
    ReferralStatus,
    ReliefStatus,
    RiskLevel,
    ServiceKind,
    ServiceStatus,
    TestimonyStatus,
)
from app.api.graphql.types.organization import Organization
from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.care_plan import CodeOut, GoalOut, ProgressOut, ServiceOut
from app.api.schemas.cases import (
    ConsentOut,
    ContactOut,
    ExploitationOut,
    SurvivorOut,
    UpdateOut,
)
from app.api.schemas.common import ViewWith
from app.api.schemas.legal import DocumentOut, TestimonyRow
from app.api.schemas.placements import PlacementOut
from app.api.schemas.referrals import Preview, ReferralOut
from app.domain.cases import CaseView, LoadedCase
from app.domain.consents import Consent as ConsentData
from app.domain.legal import LegalRecord as LegalRecordData
from app.domain.referrals import ReferralView
from app.domain.vocabulary import AgeBand

T = TypeVar("T")
N = TypeVar("N")


# -- the survivor ------------------------------------------------------------------------------
@from_model(ContactOut, description="How to reach someone (identity)")
class Contact(Projected):
    @classmethod
    def of(cls, source: dict[str, Any]) -> Contact:
        return super().of(dict.fromkeys(ContactOut.model_fields) | source)  # absent: null


@from_model(
    SurvivorOut,
    description="The survivor as far as you may see: `gender`, `nationality`, `languages` and "
    "`interpreterNeeded` need `demographics`; names, birth date and contact need `identity`. "
    "A field you may not see is null.",
)
class Survivor(Projected):
    @classmethod
    def of(cls, source: dict[str, Any]) -> Survivor:
        return super().of(dict.fromkeys(SurvivorOut.model_fields) | source)  # not seen: null


@strawberry.type(description="A minor's guardian (identity)")
class Guardian:
    name: str | None
    relationship: str | None
    contact: Contact | None

    @classmethod
    def of(cls, guardian: dict[str, Any] | None) -> Guardian | None:
        if not guardian:
            return None
        return cls(
            name=guardian.get("name"),
            relationship=guardian.get("relationship"),
            contact=Contact.of(c) if (c := guardian.get("contact")) else None,
        )


@from_model(
    ExploitationOut, description="How the survivor was exploited and identified (exploitation)"
)
class Exploitation(Projected):
    pass


# -- the case ----------------------------------------------------------------------------------
R = TypeVar("R", bound=Callable[..., Any])


def answered_when_loaded(listed: Callable[[], CaseList]) -> Callable[[R], R]:
    """Marks the resolver of a list under a case (``listed``: its CaseList, looked up when
    called) as one the executor may answer without calling it when the list is already loaded
    (``executor._Ready``: a page of cases loads its lists first, :func:`prefetch_lists`). What
    it answers is what the resolver would: the same key, the same loaded page, the same
    connection. Otherwise (not loaded, a scope missing, an error) the resolver runs."""

    def mark(resolver: R) -> R:
        def when_loaded(case: Case, context: Any, arguments: dict[str, Any]) -> Any:
            _, found = _loaded_page(listed(), case.loaded, context.loaders, arguments)
            return Undefined if found is NOT_READY else found

        resolver.__graphql_ready__ = when_loaded  # type: ignore[attr-defined]
        return resolver

    return mark


def _loaded_page(
    listed: CaseList, case: LoadedCase, loaders: Loaders, arguments: dict[str, Any]
) -> tuple[CasePageKey | None, Any]:
    """The list's key for ``case`` and its connection if its page is loaded: (None, None)
    where the field is null for this case, (key, ``NOT_READY``) when it is not loaded yet."""
    key = listed.key(case, **arguments)
    if key is None:
        return None, None
    page = ready(listed.loader(loaders), key)
    if page is NOT_READY:
        return key, NOT_READY
    return key, connection(page, listed.node, listed.cursor, after=key.after)


class _CaseFields:
    """What a :class:`Case`'s fields are, from its view: each read only when a query selects
    the field (a page of cases for their referrals reads five of them)."""

    __slots__ = ("access", "view")

    def __init__(self, view: CaseView) -> None:
        self.view, self.access = view, view.access

    id = property(lambda self: self.view.id)
    reference = property(lambda self: self.view.reference)
    lead_org_id = property(lambda self: self.view.lead_org_id)
    status = property(lambda self: CaseStatus(self.view.status))
    role = property(lambda self: CaseRole(self.access.role))
    visible_categories = property(lambda self: self.access.sorted_visible())
    created_at = property(lambda self: self.view.created_at)
    updated_at = property(lambda self: self.view.updated_at)
    version = property(lambda self: self.view.version)
    closed_at = property(lambda self: self.view.closed_at)

    @property
    def is_minor(self) -> bool | None:
        d = self.view.demographics
        return d["is_minor"] if d is not None else None

    @property
    def age_band(self) -> str | None:
        d = self.view.demographics
        return str(AgeBand(d["age_band"])) if d is not None else None

    @property
    def identity_erased(self) -> bool | None:
        return self.view.identity_erased if self.access.sees(Category.IDENTITY) else None

    @property
    def exploitation(self) -> dict[str, Any] | None:
        return self.view.exploitation  # (built as Exploitation when read: Projected)

    @property
    def needs(self) -> list[ServiceKind] | None:
        g = self.view.general
        return [ServiceKind(n) for n in g["needs"]] if g is not None else None

    @property
    def risk_level(self) -> RiskLevel | None:
        g = self.view.general
        risk = g["risk_level"] if g is not None else None
        return RiskLevel(risk) if risk else None


@strawberry.type(
    description="A case as far as you may see it. Each category's fields are null unless you "
    "are entitled to the category (`visibleCategories` lists those you got): the lead sees all; "
    "a care-team member `demographics` plus the referral's shared categories that an active "
    "consent covers; token scopes narrow both. A case you may not see does not exist for you."
)
class Case(Projected):
    id: UUID
    reference: str = strawberry.field(description="Short human-readable code")
    lead_org_id: UUID
    status: CaseStatus
    role: CaseRole = strawberry.field(description="Your relationship to the case")
    visible_categories: list[Category]
    created_at: datetime
    updated_at: datetime
    version: int
    closed_at: datetime | None

    is_minor: bool | None = strawberry.field(description="demographics")
    age_band: str | None = strawberry.field(description="demographics: 0-11 … 50+")
    identity_erased: bool | None = strawberry.field(description="identity")
    exploitation: Exploitation | None = strawberry.field(description="exploitation")
    needs: list[ServiceKind] | None = strawberry.field(description="general")
    risk_level: RiskLevel | None = strawberry.field(description="general")

    # Sealed at rest: opened only when a query asks for them (CaseView), so a page that does
    # not select them unwraps no data key. (Resolvers come after the plain fields in the SDL.)
    @strawberry.field(description="The lead's own id (lead only)")
    def external_ref(self) -> str | None:
        return self.view.external_ref

    @strawberry.field(description="general")
    def close_reason(self) -> str | None:
        return self.view.close_reason

    # The case as loaded for the caller (row and access): what the lists below are read for.
    loaded: strawberry.Private[LoadedCase]
    # The view it was built from: identity is decrypted only when `survivor` or `guardian`
    # asks for it (a page of cases for their referrals opens no name).
    view: strawberry.Private[CaseView]

    @strawberry.field(description="demographics and identity")
    def survivor(self) -> Survivor | None:
        survivor = SurvivorOut.source(self.view)
        return Survivor.of(survivor) if survivor else None

    @strawberry.field(description="identity")
    def guardian(self) -> Guardian | None:
        i = self.view.identity
        return Guardian.of(i.guardian) if i is not None else None

    @classmethod
    def of(cls, view: CaseView) -> Case:
        # Each field is worked out from the view when a query selects it (Projected).
        case = super().of(_CaseFields(view))
        case.loaded = view.loaded
        case.view = view
        return case

    @strawberry.field(description="The lead organisation.")
    async def lead_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.lead_org_id)
        return Organization.of(org) if org else None

    def _page(
        self, info: Info, listed: CaseList, arguments: dict[str, Any]
    ) -> Connection[Any] | None:
        """A page of a list under this case through the request's loader for that list: at
        once when the page of cases this case came with loaded it already
        (:func:`prefetch_lists`), else through the loader (batched with its siblings): the
        connection (or null), or an awaitable of it."""
        key, found = _loaded_page(listed, self.loaded, info.context.loaders, arguments)
        if found is NOT_READY:
            assert key is not None
            loader = listed.loader(info.context.loaders)
            # graphql-core awaits what a resolver returns when it is awaitable, whatever the
            # resolver declares (Strawberry reads the declaration for the schema only)
            return cast("Connection[Any]", self._later(loader, key, listed))
        return cast("Connection[Any] | None", found)

    @staticmethod
    async def _later(
        loader: CasePagesLoader[Any], key: CasePageKey, listed: CaseList
    ) -> Connection[Any]:
        return connection(await loader.load(key), listed.node, listed.cursor, after=key.after)

    @strawberry.field(
        description="Referrals of this case that you sent or received, oldest first.",
        extensions=[RequireScopes("referrals:read")],
    )
    @answered_when_loaded(lambda: REFERRALS)
    def referrals(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: ReferralStatus | None = None,
    ) -> Connection[Referral] | None:
        return self._page(info, REFERRALS, {"first": first, "after": after, "status": status})

    @strawberry.field(
        description="The timeline: updates in categories you may see (and those you wrote), "
        "oldest first.",
        extensions=[RequireScopes("cases:read")],
    )
    @answered_when_loaded(lambda: UPDATES)
    def updates(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: Category | None = None,
    ) -> Connection[CaseUpdate] | None:
        return self._page(info, UPDATES, {"first": first, "after": after, "category": category})

    @strawberry.field(
        description="Consents of this case: the lead sees all, others those addressed to them.",
        extensions=[RequireScopes("cases:read")],
    )
    @answered_when_loaded(lambda: CONSENTS)
    def consents(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Consent] | None:
        return self._page(info, CONSENTS, {"first": first, "after": after})

    @strawberry.field(
        description="The legal record (null unless you may see `legal`; as GET …/legal).",
        extensions=[RequireScopes("legal:read")],
    )
    async def legal(self, info: Info) -> LegalRecord | None:
        record = await info.context.loaders.legal_by_case.load(CasePageKey.of(self.loaded))
        return LegalRecord.of_record(self.id, record) if record is not None else None

    @strawberry.field(
        description="Placements, oldest first (null unless you may see `placement`).",
        extensions=[RequireScopes("placements:read")],
    )
    @answered_when_loaded(lambda: PLACEMENTS)
    def placements(
        self, info: Info, first: int = DEFAULT_FIRST, after: str | None = None
    ) -> Connection[Placement] | None:
        return self._page(info, PLACEMENTS, {"first": first, "after": after})

    @strawberry.field(
        description="Goals in the categories you may see, oldest first (as GET …/goals).",
        extensions=[RequireScopes("cases:read")],
    )
    @answered_when_loaded(lambda: GOALS)
    def goals(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: CarePlanCategory | None = None,
        status: GoalStatus | None = None,
    ) -> Connection[Goal] | None:
        arguments = {"first": first, "after": after, "category": category, "status": status}
        return self._page(info, GOALS, arguments)

    @strawberry.field(
        description="Service records in the categories you may see, oldest first (as GET "
        "…/services).",
        extensions=[RequireScopes("cases:read")],
    )
    @answered_when_loaded(lambda: SERVICES)
    def services(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        category: CarePlanCategory | None = None,
        status: ServiceStatus | None = None,
    ) -> Connection[ServiceRecord] | None:
        arguments = {"first": first, "after": after, "category": category, "status": status}
        return self._page(info, SERVICES, arguments)


# -- what is listed under a case -----------------------------------------------------------------
@from_model(
    UpdateOut,
    description="An immutable entry of a case's timeline",
    descriptions={
        "details": "Free-form JSON, at most `AFTERCARE_MAX_DETAILS_BYTES` (16 KiB by default)",
        "supersedes": "The update this one corrects",
    },
)
class CaseUpdate(Projected):
    pass


@from_model(ConsentOut, description="A survivor's (or guardian's) consent to share categories")
class Consent(Projected):
    status: ConsentStatus

    @classmethod
    def of(cls, source: ConsentData) -> Consent:
        return super().of(ViewWith.over(source, status=source.status(datetime.now(UTC))))


@from_model(DocumentOut, description="An identity document and where it is")
class IdentityDocument(Projected):
    pass


@strawberry.type(description="A case's legal record (category `legal`), as REST's GET …/legal")
class LegalRecord(Projected):
    case_id: UUID
    documents: list[IdentityDocument]
    testimony_status: TestimonyStatus
    protective_measures: list[ProtectiveMeasure]
    next_session_at: datetime | None
    prosecution_status: ProsecutionStatus
    next_hearing_at: datetime | None
    immigration_relief_type: str | None
    immigration_relief_status: ReliefStatus | None
    updated_at: datetime | None
    version: int = strawberry.field(description="0 until the record is first written")

    @classmethod
    def of_record(cls, case_id: UUID, record: LegalRecordData) -> LegalRecord:
        return cls.of(ViewWith.over(record, case_id=case_id))


@from_model(TestimonyRow, description="Where one case's testimony preparation stands (legal)")
class CaseTestimony(Projected):
    pass


@from_model(
    PlacementOut, description="A placement (category `placement`), as REST's placements list"
)
class Placement(Projected):
    pass


# -- the care plan: goals with their status history, service records -----------------------------
@from_model(ProgressOut, description="One entry of a goal's status history")
class GoalProgress(Projected):
    pass


@from_model(
    GoalOut,
    description="A goal in one category of a case, owned by the lead or a care-team member "
    "(as REST's goals)",
    descriptions={"progress": "The status history, oldest first (at most 50 entries)"},
)
class Goal(Projected):
    pass


@from_model(CodeOut, description="A standard code, stored as given (e.g. ICD-10, SNOMED CT, ISCED)")
class ServiceCode(Projected):
    pass


@from_model(
    ServiceOut,
    description="A service record: an appointment, session, enrolment, assessment or supply "
    "(as REST's services)",
)
class ServiceRecord(Projected):
    pass


# -- referrals ---------------------------------------------------------------------------------
@from_model(
    Preview,
    description="What a receiver decides a pending referral on: de-identified, never names, "
    "dates of birth, contact or location",
)
class ReferralPreview(Projected):
    age_band: str = strawberry.field(description="0-11, 12-14, 15-17, 18-24, 25-34, 35-49 or 50+")


@from_model(
    ReferralOut,
    description="A referral you sent or received. While it is pending, the receiver sees "
    "`preview` (de-identified) and not the case: `case` stays null for it until it accepts.",
    descriptions={
        "case_reference": "For the sender, and for the receiver once accepted",
        "reason_code": "Why it was declined or failed (null otherwise)",
    },
)
class Referral(Projected):
    case_id: UUID
    from_org_id: UUID
    to_org_id: UUID
    direction: ReferralDirection
    # The view it was built from: its free text is opened only when a query asks for it.
    view: strawberry.Private[ReferralView | None] = None

    @classmethod
    def of(cls, source: ReferralView) -> Referral:
        referral = super().of(ReferralOut.source(source, opened=False, lazy=True))
        referral.view = source
        return referral

    def _view(self) -> ReferralView:
        assert self.view is not None  # (set by `of`, the only way one is made)
        return self.view

    @strawberry.field
    def reason(self) -> str:
        return self._view().reason

    @strawberry.field
    def status_reason(self) -> str | None:
        return self._view().status_reason

    @strawberry.field
    def outcome(self) -> str | None:
        return self._view().outcome

    @strawberry.field(
        description="The case, when you may see it (null otherwise, e.g. for the receiver of a "
        "pending referral).",
        extensions=[RequireScopes("cases:read")],
    )
    async def case(self, info: Info) -> Case | None:
        view = await info.context.loaders.case_by_id.load(self.case_id)
        return Case.of(view) if view is not None else None

    @strawberry.field(description="The sender.")
    async def from_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.from_org_id)
        return Organization.of(org) if org else None

    @strawberry.field(description="The receiver.")
    async def to_organization(self, info: Info) -> Organization | None:
        org = await info.context.loaders.organization_by_id.load(self.to_org_id)
        return Organization.of(org) if org else None


# -- the lists under a case, and a page of cases loading them at once ---------------------------
@dataclass(frozen=True, slots=True)
class CaseList:
    """A list under a case: which loader reads it, the loader key for a case and the field's
    arguments (None: the field is null for that case), and how a node and its cursor are made.
    The resolver and :func:`prefetch_lists` both take the key from here, so they agree."""

    loader: Callable[[Loaders], CasePagesLoader[Any]]
    key: Callable[..., CasePageKey | None]
    node: Callable[[Any], Any]
    cursor: Callable[[Any], str]


def _filtered(filter_name: str | None = None) -> Callable[..., CasePageKey | None]:
    def key(
        case: LoadedCase, first: int = DEFAULT_FIRST, after: str | None = None, **filters: Any
    ) -> CasePageKey:
        value = filters.get(filter_name) if filter_name else None
        return CasePageKey.of(case, page_size(first), after, str(value) if value else None)

    return key


def _placements_key(
    case: LoadedCase, first: int = DEFAULT_FIRST, after: str | None = None
) -> CasePageKey | None:
    if not case.access.sees(Category.PLACEMENT):
        return None  # as REST's 404 for the placements of a case you may not see there
    return CasePageKey.of(case, page_size(first), after)


def _care_key(
    case: LoadedCase,
    first: int = DEFAULT_FIRST,
    after: str | None = None,
    category: str | None = None,
    status: str | None = None,
) -> CasePageKey:
    filter_ = care_filter(
        CarePlanCategory(category) if category else None, str(status) if status else None
    )
    return CasePageKey.of(case, page_size(first), after, filter_)


REFERRALS: CaseList = CaseList(
    attrgetter("referrals_by_case"), _filtered("status"), Referral.of, referral_cursor
)
UPDATES: CaseList = CaseList(
    attrgetter("updates_by_case"), _filtered("category"), CaseUpdate.of, update_cursor
)
CONSENTS: CaseList = CaseList(
    attrgetter("consents_by_case"), _filtered(), Consent.of, consent_cursor
)
PLACEMENTS: CaseList = CaseList(
    attrgetter("placements_by_case"), _placements_key, Placement.of, placement_cursor
)
GOALS: CaseList = CaseList(attrgetter("goals_by_case"), _care_key, Goal.of, goal_cursor)
SERVICES: CaseList = CaseList(
    attrgetter("services_by_case"), _care_key, ServiceRecord.of, service_cursor
)

# by the field's name in the schema (its arguments are single words: the same in Python)
CASE_LISTS = {
    "referrals": REFERRALS,
    "updates": UPDATES,
    "consents": CONSENTS,
    "placements": PLACEMENTS,
    "goals": GOALS,
    "services": SERVICES,
}


async def prefetch_lists(info: Info, cases: Sequence[LoadedCase]) -> None:
    """Load the lists a page of cases selects under ``edges { node { … } }`` for all its cases
    at once, before the page is completed, so that each case's list field finds its page
    loaded and answers without an awaitable of its own (a page of 50 cases with their
    referrals: no task per case). The same loaders, keys and statements as without it: this
    only moves the batch earlier.

    Left to the resolvers (they load as before): a field whose token lacks its scope (it
    answers an error, and must read nothing), a field under a directive (``@include``/``@skip``
    decide at execution), arguments that don't coerce or a key the list refuses (the resolver
    reports the error). A failed load is remembered by its loader and reported by each field
    as before."""
    if not cases:
        return
    raw = info._raw_info
    case_type = raw.schema.get_type("Case")
    assert isinstance(case_type, GraphQLObjectType)
    principal = info.context.principal
    # Strawberry hands resolvers the coerced dict rather than graphql-core's container
    coerced: Any = raw.variable_values
    variables = coerced if isinstance(coerced, VariableValues) else VariableValues({}, coerced)
    wanted: dict[tuple[str, CasePageKey], tuple[CasePagesLoader[Any], list[CasePageKey]]] = {}
    for node in _node_fields(raw):
        name = node.name.value
        listed = CASE_LISTS.get(name)
        field = case_type.fields.get(name)
        if listed is None or field is None:
            continue
        scopes = _scopes(name)
        if scopes is None or principal.missing_scopes(scopes):
            continue
        try:
            arguments = get_argument_values(field, node, variables)
            keys = [key for case in cases if (key := listed.key(case, **arguments)) is not None]
        except Exception:  # noqa: S112 - the resolver reports it, where it belongs
            continue
        if keys:
            loader = listed.loader(info.context.loaders)
            wanted.setdefault((name, keys[0]), (loader, keys))
    if wanted:
        loads = [loader.load_many(keys) for loader, keys in wanted.values()]
        await asyncio.gather(*loads, return_exceptions=True)  # failures stay in the loaders


@cache
def _scopes(field_name: str) -> tuple[str, ...] | None:
    """The scopes the Case field needs (its RequireScopes), None when it declares none."""
    definition = Case.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        if field.graphql_name == field_name or field.python_name == field_name:
            return RequireScopes.of(field.extensions)
    return None


def _node_fields(raw: GraphQLResolveInfo[Any]) -> Iterator[FieldNode]:
    """The fields selected on the cases of ``edges { node { … } }``, through fragments; each
    fragment walked once per level (so a document that spreads fragments many times costs no
    more to walk than one that spreads each once)."""

    def fields(selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
        seen: set[str] = set()
        stack = list(reversed(selection_set.selections)) if selection_set else []
        while stack:
            selection = stack.pop()
            if selection.directives:
                continue
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                stack.extend(reversed(selection.selection_set.selections))
            elif isinstance(selection, FragmentSpreadNode):
                if getattr(selection, "arguments", None):
                    continue  # fragment variables: left to the resolvers
                name = selection.name.value
                fragment = raw.fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    stack.extend(reversed(fragment.selection_set.selections))

    for top in raw.field_nodes:
        for edges in fields(top.selection_set):
            if edges.name.value == "edges":
                for node in fields(edges.selection_set):
                    if node.name.value == "node":
                        yield from fields(node.selection_set)
