"""The root mutation, assembled from one mixin per feature (each module with its inputs)."""

from __future__ import annotations

import strawberry

from app.api.graphql.mutations.care_plan import CarePlanMutations
from app.api.graphql.mutations.cases import CaseMutations, ConsentMutations
from app.api.graphql.mutations.referrals import ReferralMutations


@strawberry.type
class Mutation(CaseMutations, ConsentMutations, ReferralMutations, CarePlanMutations):
    pass


__all__ = ["Mutation"]
