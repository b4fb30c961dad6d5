from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field

from app.api.schemas.common import (
    CountryCode,
    LanguageTag,
    RequestModel,
    ResponseModel,
    ShortText,
    Timestamp,
    ViewWith,
)
from app.domain.organizations import CapacityEntry, Organization, ProfileChange
from app.domain.vocabulary import Gender, OrganizationKind, ServiceKind


class CapacityOut(ResponseModel):
    service: ServiceKind
    available: int
    maximum: int
    updated_at: datetime


class PopulationsOut(ResponseModel):
    accepts_minors: bool
    accepts_adults: bool
    genders: list[Gender] = Field(description="Genders served; empty means all")


class OrganizationOut(ResponseModel):
    id: UUID
    name: str
    kind: OrganizationKind
    country: str | None
    services: list[ServiceKind]
    languages: list[str]
    regions: list[str]
    populations: PopulationsOut
    capacity: list[CapacityOut]
    created_at: datetime
    updated_at: datetime
    version: int

    @staticmethod
    def source(org: Organization) -> ViewWith:
        """The view as the model's fields: its populations are the view's own attributes."""
        return ViewWith(org, populations=org)

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        return cls.model_validate(cls.source(org))


class CapacityIn(RequestModel):
    service: ServiceKind
    available: int = Field(ge=0, le=100_000)
    maximum: int = Field(ge=0, le=100_000)
    updated_at: Timestamp | None = Field(
        default=None,
        description="Read-only, ignored: the hub sets it. Accepted so that the `capacity` a "
        "`GET` returned can be sent back as it is.",
        json_schema_extra={"readOnly": True},
    )


class PopulationsPatch(RequestModel):
    accepts_minors: bool | None = None
    accepts_adults: bool | None = None
    genders: list[Gender] | None = Field(default=None, max_length=10)

    not_null = ("accepts_minors", "accepts_adults", "genders")


Region = Annotated[ShortText, Field(description="A region served, e.g. an ISO 3166-2 code")]


class OrganizationPatch(RequestModel):
    """Fields present are replaced (lists as a whole); fields absent stay as they are."""

    services: list[ServiceKind] | None = Field(default=None, max_length=len(ServiceKind))
    languages: list[LanguageTag] | None = Field(default=None, max_length=50)
    regions: list[Region] | None = Field(default=None, max_length=100)
    populations: PopulationsPatch | None = None
    capacity: list[CapacityIn] | None = Field(
        default=None,
        max_length=len(ServiceKind),
        description="The full capacity set: services not listed lose their capacity entry",
    )

    not_null = ("services", "languages", "regions", "populations", "capacity")

    def to_change(self) -> ProfileChange:
        pops = self.populations
        return ProfileChange(
            services=list(dict.fromkeys(self.services)) if self.services is not None else None,
            languages=list(dict.fromkeys(self.languages)) if self.languages is not None else None,
            regions=list(dict.fromkeys(self.regions)) if self.regions is not None else None,
            accepts_minors=pops.accepts_minors if pops else None,
            accepts_adults=pops.accepts_adults if pops else None,
            genders=[str(g) for g in pops.genders] if pops and pops.genders is not None else None,
            capacity=[CapacityEntry(c.service, c.available, c.maximum) for c in self.capacity]
            if self.capacity is not None
            else None,
        )


__all__ = ["CountryCode", "OrganizationOut", "OrganizationPatch"]
