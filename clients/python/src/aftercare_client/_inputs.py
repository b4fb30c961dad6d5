"""Typed shapes of the nested request bodies (``TypedDict``: plain dicts, checked by mypy).

Dates and times may be given as ``date``/``datetime`` or ISO strings, ids as ``UUID`` or strings.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, NotRequired, Required, TypedDict
from uuid import UUID

__all__ = [
    "CapacityIn",
    "CasePatch",
    "CodeIn",
    "ContactIn",
    "ExploitationIn",
    "GuardianIn",
    "ImmigrationReliefIn",
    "LegalDocumentIn",
    "OrganizationPatch",
    "PopulationsPatch",
    "ProsecutionIn",
    "ServicePatch",
    "SurvivorIn",
    "SurvivorPatch",
    "TestimonyIn",
    "WebhookPatch",
]

DateLike = date | str
DateTimeLike = datetime | str
IdLike = UUID | str


class ContactIn(TypedDict, total=False):
    phone: str | None
    email: str | None
    address: str | None


class SurvivorIn(TypedDict, total=False):
    gender: Required[str]
    given_name: str | None
    family_name: str | None
    aliases: list[str]
    date_of_birth: DateLike | None
    estimated_birth_year: int | None
    nationality: str | None
    languages: list[str]
    interpreter_needed: bool
    contact: ContactIn | None


class SurvivorPatch(TypedDict, total=False):
    gender: str | None
    given_name: str | None
    family_name: str | None
    aliases: list[str] | None
    date_of_birth: DateLike | None
    estimated_birth_year: int | None
    nationality: str | None
    languages: list[str] | None
    interpreter_needed: bool | None
    contact: ContactIn | None


class GuardianIn(TypedDict):
    relationship: str
    name: NotRequired[str | None]
    contact: NotRequired[ContactIn | None]


class ExploitationIn(TypedDict, total=False):
    types: list[str]
    identified_on: DateLike | None
    country: str | None


class CasePatch(TypedDict, total=False):
    external_ref: str | None
    survivor: SurvivorPatch | None
    guardian: GuardianIn | None
    exploitation: ExploitationIn | None
    needs: list[str] | None
    risk_level: str | None


class CodeIn(TypedDict):
    system: str
    code: str


class ServicePatch(TypedDict, total=False):
    status: str | None
    occurred_at: DateTimeLike | None
    notes: str | None


class WebhookPatch(TypedDict, total=False):
    url: str | None
    event_types: list[str] | None
    description: str | None
    status: Literal["active", "disabled"] | None


class CapacityIn(TypedDict):
    service: str
    available: int
    maximum: int
    updated_at: NotRequired[DateTimeLike | None]  # read-only: what GET returned; ignored


class PopulationsPatch(TypedDict, total=False):
    accepts_minors: bool | None
    accepts_adults: bool | None
    genders: list[str] | None


class OrganizationPatch(TypedDict, total=False):
    services: list[str] | None
    languages: list[str] | None
    regions: list[str] | None
    populations: PopulationsPatch | None
    capacity: list[CapacityIn] | None


class LegalDocumentIn(TypedDict):
    """An identity or travel document and where it is (``held_by_trafficker``, ``retrieved``, …)."""

    type: str
    status: str


class TestimonyIn(TypedDict, total=False):
    status: str
    protective_measures: list[str]
    next_session_at: DateTimeLike | None


# Not a test class, whatever pytest makes of a name starting with "Test" (a TypedDict's body
# cannot say so itself).
TestimonyIn.__test__ = False  # type: ignore[attr-defined]


class ProsecutionIn(TypedDict, total=False):
    status: str
    next_hearing_at: DateTimeLike | None


class ImmigrationReliefIn(TypedDict, total=False):
    type: str | None
    status: str | None


def jsonable(value: Any) -> Any:
    """``value`` with dates, times and UUIDs as the strings JSON carries."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return value
