"""The root mutation, assembled from one mixin per feature."""

from __future__ import annotations

import strawberry

from app.api.graphql.mutations.case_mutations import CaseMutations
from app.api.graphql.mutations.consent_mutations import ConsentMutations
from app.api.graphql.mutations.referral_mutations import ReferralMutations


@strawberry.type
class Mutation(CaseMutations, ConsentMutations, ReferralMutations):
    pass


__all__ = ["Mutation"]
