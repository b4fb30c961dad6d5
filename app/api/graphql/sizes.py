"""The most each field of the schema can weigh in a response: the table the static size bound
(``limits.py``) multiplies through pages.

Declared once, here, and derived from the write models where the value comes from a request:
a string is at most its model's ``max_length`` characters, a list at most its ``max_length``
items. Every ``String``, ``JSON`` and list field of the schema must have an entry: building the
schema fails otherwise (:func:`field_sizes`), so a new field cannot slip past the bound.

Scalars of fixed shape (UUID, DateTime, Date, Int, Boolean, enums) need no entry: their size
follows from their type.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from annotated_types import MaxLen
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLType,
    get_named_type,
)
from pydantic import BaseModel, StringConstraints

from app.api.schemas.care_plan import CodeIn, GoalIn, ProgressIn, ServiceIn
from app.api.schemas.cases import (
    CaseCreate,
    CloseIn,
    ConsentCreate,
    Contact,
    Guardian,
    RevokeIn,
    SurvivorIn,
    UpdateCreate,
)
from app.api.schemas.legal import ImmigrationRelief, LegalIn, Testimony
from app.api.schemas.organizations import OrganizationPatch, PopulationsPatch
from app.api.schemas.placements import PlacementEndIn
from app.api.schemas.referrals import OutcomeIn, ReasonIn, ReferralCreate
from app.domain.care_plan_rules import MAX_PROGRESS_ENTRIES
from app.domain.reports import BREAKDOWNS
from app.domain.vocabulary import AgeBand, Category, ExploitationType, ServiceKind

CHAR_BYTES = 3  # a character of any living script (the BMP) in UTF-8; see the module's doc
FIELD_BYTES = 8  # a field's quotes, colon and comma, and its value's braces or brackets
ERROR_BYTES = 256  # a field error with its message, location, path and code, about
SCALAR_BYTES = {  # the longest value of each fixed-shape scalar, as JSON
    "UUID": 38,
    "DateTime": 34,  # "2026-11-30T08:22:48.123456+00:00"
    "Date": 12,
    "Int": 11,  # -2147483648
    "Float": 24,
    "Boolean": 5,
}


def max_chars(model: type[BaseModel], name: str) -> int:
    """The ``max_length`` of a string field of a request model (of its items, for a list)."""
    field = model.model_fields[name]
    found = _string_max(field.annotation) or _string_max_of(field.metadata)
    if found is None:
        raise ValueError(f"{model.__name__}.{name} has no max_length")
    return found


def max_items(model: type[BaseModel], name: str) -> int:
    """The ``max_length`` of a list field of a request model."""
    for item in model.model_fields[name].metadata:
        if isinstance(item, MaxLen):
            return item.max_length
    raise ValueError(f"{model.__name__}.{name} has no max_length")


def _string_max_of(metadata: typing.Iterable[Any]) -> int | None:
    for item in metadata:
        if isinstance(item, StringConstraints) and item.max_length is not None:
            return item.max_length
    return None


def _string_max(annotation: Any) -> int | None:
    if typing.get_origin(annotation) is typing.Annotated:
        return _string_max_of(annotation.__metadata__) or _string_max(annotation.__origin__)
    for arg in typing.get_args(annotation):  # X | None, list[X]
        found = _string_max(arg)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class Bound:
    """What a field can hold: a string at most ``chars`` characters (``ascii`` ones: a code), a
    list at most ``items`` items, the JSON scalar at most ``Limits.max_details_bytes``."""

    chars: int | None = None
    items: int | None = None
    details: bool = False
    ascii: bool = False  # a code or a tag: one byte a character


REFERENCE = Bound(chars=len("AC-7K3Q-9M2P"), ascii=True)
AGE_BAND = Bound(chars=max(len(band) for band in AgeBand), ascii=True)
COUNTRY = Bound(chars=2, ascii=True)
# base64 of a list's name and a sort key (at most an organisation's name, a time and an id)
CURSOR = Bound(chars=2_048, ascii=True)
ORGANIZATION_NAME = Bound(chars=200)  # the CLI's rule
LANGUAGES = Bound(
    items=max_items(SurvivorIn, "languages"), chars=max_chars(SurvivorIn, "languages"), ascii=True
)
CATEGORIES = Bound(items=len(Category))
SERVICES = Bound(items=len(ServiceKind))
EXPLOITATION_TYPES = Bound(items=len(ExploitationType))
PROTECTIVE_MEASURES = Bound(items=max_items(Testimony, "protective_measures"))

BOUNDS: dict[str, Bound] = {
    "*.cursor": CURSOR,  # every connection's edges
    "PageInfo.startCursor": CURSOR,
    "PageInfo.endCursor": CURSOR,
    "Case.reference": REFERENCE,
    "Case.visibleCategories": CATEGORIES,
    "Case.externalRef": Bound(chars=max_chars(CaseCreate, "external_ref"), ascii=True),
    "Case.ageBand": AGE_BAND,
    "Case.needs": SERVICES,
    "Case.closeReason": Bound(chars=max_chars(CloseIn, "reason")),
    "Survivor.nationality": COUNTRY,
    "Survivor.languages": LANGUAGES,
    "Survivor.givenName": Bound(chars=max_chars(SurvivorIn, "given_name")),
    "Survivor.familyName": Bound(chars=max_chars(SurvivorIn, "family_name")),
    "Survivor.aliases": Bound(
        items=max_items(SurvivorIn, "aliases"), chars=max_chars(SurvivorIn, "aliases")
    ),
    "Contact.phone": Bound(chars=max_chars(Contact, "phone")),
    "Contact.email": Bound(chars=max_chars(Contact, "email")),
    "Contact.address": Bound(chars=max_chars(Contact, "address")),
    "Guardian.name": Bound(chars=max_chars(Guardian, "name")),
    "Guardian.relationship": Bound(chars=max_chars(Guardian, "relationship")),
    "Exploitation.types": EXPLOITATION_TYPES,
    "Exploitation.country": COUNTRY,
    "CaseUpdate.summary": Bound(chars=max_chars(UpdateCreate, "summary")),
    "CaseUpdate.details": Bound(details=True),
    "Consent.grantedBy": Bound(items=max_items(ConsentCreate, "granted_by")),
    "Consent.recipientKinds": Bound(items=max_items(ConsentCreate, "recipient_kinds")),
    "Consent.categories": CATEGORIES,
    "Consent.purpose": Bound(chars=max_chars(ConsentCreate, "purpose")),
    "Consent.evidenceRef": Bound(chars=max_chars(ConsentCreate, "evidence_ref")),
    "Consent.revokeReason": Bound(chars=max_chars(RevokeIn, "reason")),
    "Referral.caseReference": REFERENCE,
    "Referral.reason": Bound(chars=max_chars(ReferralCreate, "reason")),
    "Referral.sharedCategories": CATEGORIES,
    "Referral.statusReason": Bound(chars=max_chars(ReasonIn, "reason")),
    "Referral.outcome": Bound(chars=max_chars(OutcomeIn, "outcome")),
    "ReferralPreview.ageBand": AGE_BAND,
    "ReferralPreview.languages": LANGUAGES,
    "ReferralPreview.needs": SERVICES,
    "ReferralPreview.exploitationTypes": EXPLOITATION_TYPES,
    "Organization.name": ORGANIZATION_NAME,
    "Organization.country": COUNTRY,
    "Organization.services": Bound(items=max_items(OrganizationPatch, "services")),
    "Organization.languages": Bound(
        items=max_items(OrganizationPatch, "languages"),
        chars=max_chars(OrganizationPatch, "languages"),
        ascii=True,
    ),
    "Organization.regions": Bound(
        items=max_items(OrganizationPatch, "regions"),
        chars=max_chars(OrganizationPatch, "regions"),
    ),
    "Organization.capacity": Bound(items=max_items(OrganizationPatch, "capacity")),
    "Populations.genders": Bound(items=max_items(PopulationsPatch, "genders")),
    "LegalRecord.documents": Bound(items=max_items(LegalIn, "documents")),
    "LegalRecord.protectiveMeasures": PROTECTIVE_MEASURES,
    "LegalRecord.immigrationReliefType": Bound(chars=max_chars(ImmigrationRelief, "type")),
    "CaseTestimony.reference": REFERENCE,
    "CaseTestimony.protectiveMeasures": PROTECTIVE_MEASURES,
    "Event.data": Bound(details=True),  # ids and codes only; bounded like a details object
    "EventSubject.type": Bound(chars=32, ascii=True),
    "Placement.authorizationRef": Bound(chars=max_chars(PlacementEndIn, "authorization_ref")),
    "Goal.title": Bound(chars=max_chars(GoalIn, "title")),
    "Goal.description": Bound(chars=max_chars(GoalIn, "description")),
    "Goal.progress": Bound(items=MAX_PROGRESS_ENTRIES),
    "GoalProgress.note": Bound(chars=max_chars(ProgressIn, "note")),
    "ServiceRecord.notes": Bound(chars=max_chars(ServiceIn, "notes")),
    "ServiceRecord.codes": Bound(items=max_items(ServiceIn, "codes")),
    "ServiceCode.system": Bound(chars=max_chars(CodeIn, "system")),
    "ServiceCode.code": Bound(chars=max_chars(CodeIn, "code")),
    # A report's breakdowns: one cell for each value of a vocabulary, named by the value.
    "ReportCell.value": Bound(
        chars=max(len(value) for vocabulary in BREAKDOWNS.values() for value in vocabulary),
        ascii=True,
    ),
    **{
        f"{report}.{camel_name}": Bound(items=len(BREAKDOWNS[measure]))
        for report, camel_name, measure in (
            ("CasesReport", "byAgeBand", "by_age_band"),
            ("CasesReport", "byGender", "by_gender"),
            ("CasesReport", "byExploitationType", "by_exploitation_type"),
            ("ReferralsReport", "byStatus", "by_status"),
            ("ReferralsReport", "byService", "by_service"),
            ("PlacementsReport", "bySetting", "by_setting"),
            ("PlacementsReport", "byExitReason", "by_exit_reason"),
            ("FollowUpsReport", "byOutcome", "by_outcome"),
        )
    },
}


@dataclass(frozen=True, slots=True)
class FieldSize:
    """A field's weight in a response, beyond its name: ``value`` bytes (a leaf's most, or 0
    for an object, whose own fields count), the selection under it ``items`` times (a list of
    objects), plus an error's bytes if it has a resolver that can fail."""

    value: int
    items: int = 1
    fails: bool = False


UNKNOWN = FieldSize(value=64)  # __typename and introspection (development only)


def _bound(type_name: str, field_name: str) -> Bound | None:
    return BOUNDS.get(f"{type_name}.{field_name}") or BOUNDS.get(f"*.{field_name}")


def _leaf_bytes(named: GraphQLType, bound: Bound | None, max_details_bytes: int, where: str) -> int:
    if isinstance(named, GraphQLEnumType):
        return max(len(name) for name in named.values) + 2
    assert isinstance(named, GraphQLScalarType), where
    if named.name == "String":
        if bound is None or bound.chars is None:
            raise ValueError(f"{where}: a String needs its most characters in sizes.BOUNDS")
        return bound.chars * (1 if bound.ascii else CHAR_BYTES) + 2
    if named.name == "JSON":
        if bound is None or not bound.details:
            raise ValueError(f"{where}: a JSON value needs a bound in sizes.BOUNDS")
        return max_details_bytes
    if named.name not in SCALAR_BYTES:
        raise ValueError(f"{where}: no size for the scalar {named.name}")
    return SCALAR_BYTES[named.name]


def _field_size(
    type_: GraphQLObjectType, name: str, field: Any, max_details_bytes: int
) -> FieldSize:
    where = f"{type_.name}.{name}"
    bound = _bound(type_.name, name)
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    named = get_named_type(field.type)
    definition = field.extensions.get("strawberry-definition")
    fails = getattr(definition, "base_resolver", None) is not None
    items = 1
    if isinstance(kind, GraphQLList):
        connection_edges = type_.name.endswith("Connection") and name == "edges"
        if not connection_edges:  # a connection's page is multiplied in by its `first`
            if bound is None or bound.items is None:
                raise ValueError(f"{where}: a list needs its most items in sizes.BOUNDS")
            items = bound.items
    if isinstance(named, GraphQLObjectType):
        return FieldSize(value=0, items=items, fails=fails)
    leaf = _leaf_bytes(named, bound, max_details_bytes, where)
    if isinstance(kind, GraphQLList):
        return FieldSize(value=2 + items * (leaf + 1), fails=fails)
    return FieldSize(value=leaf, fails=fails)


@cache
def field_sizes(schema: GraphQLSchema, max_details_bytes: int) -> dict[tuple[str, str], FieldSize]:
    """Every object field's :class:`FieldSize`; raises when a field has no bound it needs, or
    a bound names no field."""
    sizes: dict[tuple[str, str], FieldSize] = {}
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            for name, field in type_.fields.items():
                sizes[type_.name, name] = _field_size(type_, name, field, max_details_bytes)
    names = {name for _, name in sizes}
    for key in BOUNDS:
        type_name, name = key.split(".")
        if (type_name, name) not in sizes and not (type_name == "*" and name in names):
            raise ValueError(f"sizes.BOUNDS: {key} is not a field of the schema")
    return sizes
