"""Case, consent, timeline and access-log schemas.

Responses are built with only the fields the caller may see and serialised with
``exclude_unset``: a category the caller is not entitled to is absent, not null.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, StringConstraints, field_validator

from app.api.schemas.common import (
    CountryCode,
    LanguageTag,
    RequestModel,
    ResponseModel,
    ShortText,
    Timestamp,
    ViewWith,
)
from app.domain.access import Role
from app.domain.audit import AccessLogRow
from app.domain.cases import CaseInput, CaseView, Identity
from app.domain.consents import Consent, ConsentInput
from app.domain.updates import TimelineUpdate, UpdateInput
from app.domain.vocabulary import (
    AgeBand,
    CaseStatus,
    Category,
    ExploitationType,
    Gender,
    Granter,
    OrganizationKind,
    RiskLevel,
    ServiceKind,
    UpdateKind,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
ExternalRef = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
]


# -- requests -----------------------------------------------------------------------------------
class Contact(RequestModel):
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None


class SurvivorIn(RequestModel):
    given_name: Name | None = None
    family_name: Name | None = None
    aliases: list[Name] = Field(default_factory=list, max_length=20)
    date_of_birth: date | None = None
    estimated_birth_year: int | None = Field(default=None, ge=1900, le=2100)
    gender: Gender
    nationality: CountryCode | None = None
    languages: list[LanguageTag] = Field(default_factory=list, max_length=20)
    interpreter_needed: bool = Field(
        default=False, description="Needs an interpreter (demographics; shown in previews)"
    )
    contact: Contact | None = None


class ExploitationIn(RequestModel):
    types: list[ExploitationType] = Field(default_factory=list, max_length=len(ExploitationType))
    identified_on: date | None = None
    country: CountryCode | None = None


class Guardian(RequestModel):
    name: Name | None = None
    relationship: ShortText
    contact: Contact | None = None


class CaseCreate(RequestModel):
    external_ref: ExternalRef = Field(description="Your own id for this case (unique per lead)")
    survivor: SurvivorIn
    exploitation: ExploitationIn | None = None
    needs: list[ServiceKind] = Field(default_factory=list, max_length=len(ServiceKind))
    risk_level: RiskLevel | None = None
    guardian: Guardian | None = Field(default=None, description="Required for a minor")

    @field_validator("exploitation")
    @classmethod
    def _no_future_identification(cls, value: ExploitationIn | None) -> ExploitationIn | None:
        if value and value.identified_on and value.identified_on > date.today():
            raise ValueError("identified_on is in the future")
        return value

    def to_input(self) -> CaseInput:
        """The domain's intake input (REST and GraphQL both create cases through this)."""
        exploitation = self.exploitation
        return CaseInput(
            external_ref=self.external_ref,
            gender=str(self.survivor.gender),
            identity=self.to_identity(),
            nationality=self.survivor.nationality,
            languages=list(dict.fromkeys(self.survivor.languages)),
            interpreter_needed=self.survivor.interpreter_needed,
            exploitation_types=[str(t) for t in dict.fromkeys(exploitation.types)]
            if exploitation
            else [],
            identified_on=exploitation.identified_on if exploitation else None,
            identified_country=exploitation.country if exploitation else None,
            needs=[str(n) for n in dict.fromkeys(self.needs)],
            risk_level=str(self.risk_level) if self.risk_level else None,
        )

    def to_identity(self) -> Identity:
        s = self.survivor
        return Identity(
            given_name=s.given_name,
            family_name=s.family_name,
            aliases=list(s.aliases),
            date_of_birth=s.date_of_birth,
            estimated_birth_year=s.estimated_birth_year,
            contact=s.contact.model_dump(exclude_none=True) if s.contact else None,
            guardian=self.guardian.model_dump(exclude_none=True) if self.guardian else None,
        )


class SurvivorPatch(RequestModel):
    given_name: Name | None = None
    family_name: Name | None = None
    aliases: list[Name] | None = Field(default=None, max_length=20)
    date_of_birth: date | None = None
    estimated_birth_year: int | None = Field(default=None, ge=1900, le=2100)
    gender: Gender | None = None
    nationality: CountryCode | None = None
    languages: list[LanguageTag] | None = Field(default=None, max_length=20)
    interpreter_needed: bool | None = None
    contact: Contact | None = None

    not_null = ("gender", "languages", "aliases", "interpreter_needed")


class ExploitationPatch(RequestModel):
    types: list[ExploitationType] | None = Field(default=None, max_length=len(ExploitationType))
    identified_on: date | None = None
    country: CountryCode | None = None

    not_null = ("types",)


class CasePatch(RequestModel):
    """Merge-patch: fields present replace, ``null`` clears an optional field; the lead, status,
    reference and derived fields (is_minor, age_band) are not writable."""

    external_ref: ExternalRef | None = None
    survivor: SurvivorPatch | None = None
    exploitation: ExploitationPatch | None = None
    needs: list[ServiceKind] | None = Field(default=None, max_length=len(ServiceKind))
    risk_level: RiskLevel | None = None
    guardian: Guardian | None = None

    not_null = ("external_ref", "survivor", "exploitation", "needs")

    def to_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "external_ref" in self.model_fields_set:
            changes["external_ref"] = self.external_ref
        identity: dict[str, Any] = {}
        if self.survivor is not None:
            s, present = self.survivor, self.survivor.model_fields_set
            for name in ("gender", "nationality", "languages", "interpreter_needed"):
                if name in present:
                    changes[name] = getattr(s, name)
            for name in ("given_name", "family_name", "date_of_birth", "estimated_birth_year"):
                if name in present:
                    identity[name] = getattr(s, name)
            if "aliases" in present:
                identity["aliases"] = list(s.aliases or [])
            if "contact" in present:
                identity["contact"] = s.contact.model_dump(exclude_none=True) if s.contact else None
        if "guardian" in self.model_fields_set:
            identity["guardian"] = (
                self.guardian.model_dump(exclude_none=True) if self.guardian else None
            )
        if identity:
            changes["identity"] = identity
        if self.exploitation is not None:
            e, present = self.exploitation, self.exploitation.model_fields_set
            for name, target in (
                ("types", "exploitation_types"),
                ("identified_on", "identified_on"),
                ("country", "identified_country"),
            ):
                if name in present:
                    value = getattr(e, name)
                    changes[target] = (
                        [str(t) for t in dict.fromkeys(value)] if name == "types" else value
                    )
        if "needs" in self.model_fields_set:
            changes["needs"] = [str(n) for n in dict.fromkeys(self.needs or [])]
        if "risk_level" in self.model_fields_set:
            changes["risk_level"] = str(self.risk_level) if self.risk_level else None
        return changes


class CloseIn(RequestModel):
    reason: Reason


class ConsentCreate(RequestModel):
    granted_by: list[Granter] = Field(
        min_length=1,
        max_length=len(Granter),
        description="Who gave consent; a minor's must include `guardian`",
    )
    recipient_org_id: UUID | None = None
    recipient_kinds: list[OrganizationKind] | None = Field(
        default=None, min_length=1, max_length=len(OrganizationKind)
    )
    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    purpose: Reason
    obtained_at: Timestamp
    expires_at: Timestamp | None = None
    evidence_ref: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("granted_by", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def to_input(self) -> ConsentInput:
        return ConsentInput(
            granted_by=list(dict.fromkeys(self.granted_by)),
            categories=list(dict.fromkeys(self.categories)),
            purpose=self.purpose,
            obtained_at=self.obtained_at,
            recipient_org_id=self.recipient_org_id,
            recipient_kinds=[str(k) for k in self.recipient_kinds]
            if self.recipient_kinds
            else None,
            expires_at=self.expires_at,
            evidence_ref=self.evidence_ref,
        )


class RevokeIn(RequestModel):
    reason: Reason


class UpdateCreate(RequestModel):
    kind: UpdateKind
    category: Category
    occurred_at: Timestamp
    summary: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    details: dict[str, Any] | None = Field(
        default=None,
        description="Free-form JSON object, at most `AFTERCARE_MAX_DETAILS_BYTES` "
        "(16 KiB by default) as compact JSON",
    )
    supersedes: UUID | None = Field(default=None, description="The update this one corrects")

    def to_input(self) -> UpdateInput:
        return UpdateInput(
            kind=self.kind,
            category=self.category,
            occurred_at=self.occurred_at,
            summary=self.summary,
            details=self.details,
            supersedes=self.supersedes,
        )


# -- responses ----------------------------------------------------------------------------------
class ContactOut(ResponseModel):
    phone: str | None = None
    email: str | None = None
    address: str | None = None


class SurvivorOut(ResponseModel):
    """Demographic fields need `demographics`; names, birth date and contact need `identity`."""

    gender: Gender | None = None
    nationality: str | None = None
    languages: list[str] | None = None
    interpreter_needed: bool | None = None
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    contact: ContactOut | None = None

    @staticmethod
    def source(view: CaseView) -> dict[str, Any]:
        """The fields the caller may see (`demographics`, `identity`), and only those."""
        survivor: dict[str, Any] = {}
        if (d := view.demographics) is not None:
            survivor.update(
                gender=d["gender"],
                nationality=d["nationality"],
                languages=d["languages"],
                interpreter_needed=d["interpreter_needed"],
            )
        if (i := view.identity) is not None:
            survivor.update(
                given_name=i.given_name,
                family_name=i.family_name,
                aliases=i.aliases,
                date_of_birth=i.date_of_birth,
                estimated_birth_year=i.estimated_birth_year,
                contact=i.contact or None,
            )
        return survivor


class GuardianOut(ResponseModel):
    name: str | None = None
    relationship: str | None = None
    contact: ContactOut | None = None


class ExploitationOut(ResponseModel):
    types: list[ExploitationType]
    identified_on: date | None
    country: str | None


class CaseOut(ResponseModel):
    id: UUID
    reference: str = Field(description="Short human-readable code")
    lead_org_id: UUID
    status: CaseStatus
    role: Role = Field(description="Your relationship to the case: lead or care_team")
    visible_categories: list[Category]
    created_at: datetime
    updated_at: datetime
    version: int
    closed_at: datetime | None = None
    external_ref: str | None = Field(default=None, description="Lead only")
    is_minor: bool | None = Field(default=None, description="demographics")
    age_band: AgeBand | None = Field(default=None, description="demographics")
    survivor: SurvivorOut | None = None
    guardian: GuardianOut | None = Field(default=None, description="identity")
    identity_erased: bool | None = Field(default=None, description="identity")
    exploitation: ExploitationOut | None = Field(default=None, description="exploitation")
    needs: list[ServiceKind] | None = Field(default=None, description="general")
    risk_level: RiskLevel | None = Field(default=None, description="general")
    close_reason: str | None = Field(default=None, description="general")

    @classmethod
    def of(cls, view: CaseView) -> CaseOut:
        out = cls(
            id=view.id,
            reference=view.reference,
            lead_org_id=view.lead_org_id,
            status=CaseStatus(view.status),
            role=view.access.role,
            visible_categories=view.access.sorted_visible(),
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
            closed_at=view.closed_at,
        )
        if view.external_ref is not None:
            out.external_ref = view.external_ref
        if view.demographics is not None:
            out.is_minor = view.demographics["is_minor"]
            out.age_band = AgeBand(view.demographics["age_band"])
        if view.identity is not None:
            i = view.identity
            g = i.guardian
            out.guardian = (
                GuardianOut(
                    name=g.get("name"),
                    relationship=g.get("relationship"),
                    contact=ContactOut(**g["contact"]) if g.get("contact") else None,
                )
                if g
                else None
            )
            out.identity_erased = view.identity_erased
        survivor = SurvivorOut.source(view)
        if survivor:
            out.survivor = SurvivorOut(**survivor)
        if view.exploitation is not None:
            out.exploitation = ExploitationOut(**view.exploitation)
        if view.general is not None:
            out.needs = [ServiceKind(n) for n in view.general["needs"]]
            risk = view.general["risk_level"]
            out.risk_level = RiskLevel(risk) if risk else None
            out.close_reason = view.close_reason
        return out

    @classmethod
    def plain(cls, view: CaseView) -> dict[str, Any]:
        """What :meth:`of`'s model serialises to, as a dict for orjson: the same keys in the
        same order (the models' field order), left out where :meth:`of` leaves them out. A case
        read and a page of cases are answered from these, without up to five models validated
        and serialised per case; ``tests/unit/test_plain_responses.py`` holds the two
        together."""
        access = view.access
        out: dict[str, Any] = {
            "id": str(view.id),  # (as text: asyncpg's UUID class would go through `default`)
            "reference": view.reference,
            "lead_org_id": str(view.lead_org_id),
            "status": view.status,
            "role": access.role,
            "visible_categories": access.sorted_visible(),
            "created_at": view.created_at,
            "updated_at": view.updated_at,
            "version": view.version,
            "closed_at": view.closed_at,
        }
        if (external_ref := view.external_ref) is not None:
            out["external_ref"] = external_ref
        demographics, identity = view.demographics, view.identity
        if demographics is not None:
            out["is_minor"] = demographics["is_minor"]
            out["age_band"] = demographics["age_band"]
        survivor: dict[str, Any] = {}
        if demographics is not None:
            survivor["gender"] = demographics["gender"]
            survivor["nationality"] = demographics["nationality"]
            survivor["languages"] = demographics["languages"]
            survivor["interpreter_needed"] = demographics["interpreter_needed"]
        if identity is not None:
            survivor["given_name"] = identity.given_name
            survivor["family_name"] = identity.family_name
            survivor["aliases"] = identity.aliases
            survivor["date_of_birth"] = identity.date_of_birth
            survivor["estimated_birth_year"] = identity.estimated_birth_year
            survivor["contact"] = _plain_contact(identity.contact)
        if survivor:
            out["survivor"] = survivor
        if identity is not None:
            g = identity.guardian
            out["guardian"] = (
                {
                    "name": g.get("name"),
                    "relationship": g.get("relationship"),
                    "contact": _plain_contact(g.get("contact")),
                }
                if g
                else None
            )
            out["identity_erased"] = view.identity_erased
        if (exploitation := view.exploitation) is not None:
            out["exploitation"] = {
                "types": exploitation["types"],
                "identified_on": exploitation["identified_on"],
                "country": exploitation["country"],
            }
        if (general := view.general) is not None:
            out["needs"] = general["needs"]
            out["risk_level"] = general["risk_level"] or None
            out["close_reason"] = view.close_reason
        return out


def _plain_contact(contact: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``ContactOut(**contact)`` serialises to (its fields in order, those given only);
    ``None`` for no contact or an empty one, as :meth:`CaseOut.of` makes it."""
    if not contact:
        return None
    return {name: contact[name] for name in _CONTACT_FIELDS if name in contact}


_CONTACT_FIELDS = tuple(ContactOut.model_fields)


class ConsentOut(ResponseModel):
    id: UUID
    case_id: UUID
    status: str = Field(description="active, expired, revoked or pending (obtained_at ahead)")
    granted_by: list[Granter]
    recipient_org_id: UUID | None
    recipient_kinds: list[OrganizationKind]
    categories: list[Category]
    purpose: str
    obtained_at: datetime
    expires_at: datetime | None
    evidence_ref: str | None
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, consent: Consent, now: datetime) -> ConsentOut:
        return cls.model_validate(ViewWith(consent, status=consent.status(now)))


class UpdateOut(ResponseModel):
    id: UUID
    case_id: UUID
    author_org_id: UUID
    kind: UpdateKind
    category: Category
    occurred_at: datetime
    summary: str
    details: dict[str, Any] | None
    supersedes: UUID | None
    created_at: datetime
    updated_at: datetime = Field(description="An update never changes: its `created_at`")
    version: int = Field(description="An update never changes (a correction supersedes it): 1")

    @classmethod
    def of(cls, update: TimelineUpdate) -> UpdateOut:
        return cls.model_validate(update)

    @classmethod
    def plain(cls, update: TimelineUpdate) -> dict[str, Any]:
        """What :meth:`of`'s model serialises to, as a dict for orjson (the same keys in the
        same order): a timeline page is answered from these; held to the model byte for byte
        by ``tests/unit/test_plain_responses.py``."""
        supersedes = update.supersedes
        return {  # (ids as text: asyncpg's UUID class would go through `default`)
            "id": str(update.id),
            "case_id": str(update.case_id),
            "author_org_id": str(update.author_org_id),
            "kind": update.kind,
            "category": update.category,
            "occurred_at": update.occurred_at,
            "summary": update.summary,
            "details": update.details,
            "supersedes": str(supersedes) if supersedes is not None else None,
            "created_at": update.created_at,
            "updated_at": update.created_at,
            "version": 1,
        }


class AccessLogEntry(ResponseModel):
    occurred_at: datetime
    org_id: UUID
    org_name: str | None
    client_id: str
    action: str
    categories: list[Category]
    request_id: str | None

    @classmethod
    def of(cls, row: AccessLogRow) -> AccessLogEntry:
        return cls.model_validate(row)
