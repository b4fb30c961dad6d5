from __future__ import annotations

from uuid import UUID

import strawberry

from app.api.graphql.context import Info
from app.api.graphql.inputs.create_case_input import CreateCaseInput
from app.api.graphql.inputs.create_case_update_input import CreateCaseUpdateInput
from app.api.graphql.inputs.validation import validated
from app.api.graphql.mutations.fields import mutation
from app.api.graphql.types.case import Case
from app.api.graphql.types.case_update import CaseUpdate
from app.api.schemas.cases import CaseCreate, UpdateCreate


@strawberry.type
class CaseMutations:
    @mutation(
        "cases:write",
        description="Open a case; your organisation becomes the lead (as `POST /v1/cases`).",
    )
    async def create_case(self, info: Info, input: CreateCaseInput) -> Case | None:
        body = validated(CaseCreate, input, root=["input"])
        view = await info.context.services.cases().create(body.to_input())
        return Case.of(view)

    @mutation(
        "cases:write",
        description="Add an update to a case's timeline (as `POST /v1/cases/{id}/updates`; the "
        "category's own write scope is needed too where it has one).",
    )
    async def create_case_update(
        self, info: Info, case_id: UUID, input: CreateCaseUpdateInput
    ) -> CaseUpdate | None:
        body = validated(UpdateCreate, input, root=["input"])
        row = await info.context.services.updates().post(case_id, body.to_input())
        return CaseUpdate.of(row)
