"""A partner in the directory, with its capacity and the populations it serves: derived from
REST's models (``app.api.schemas.organizations``), built from the same source."""

from __future__ import annotations

from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.organizations import CapacityOut, OrganizationOut, PopulationsOut
from app.domain.organizations import Organization as OrganizationRecord


@from_model(PopulationsOut, description="Whom a partner serves")
class Populations(Projected):
    pass


@from_model(CapacityOut, description="Free and total places for one service")
class Capacity(Projected):
    pass


@from_model(OrganizationOut, description="A partner in the directory (public to every partner)")
class Organization(Projected):
    @classmethod
    def of(cls, source: OrganizationRecord) -> Organization:
        return super().of(OrganizationOut.source(source))
