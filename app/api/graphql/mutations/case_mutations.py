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
from app.domain.cases import CaseInput


@strawberry.type
class CaseMutations:
    @mutation(
        "cases:write",
        description="Open a case; your organisation becomes the lead (as `POST /v1/cases`).",
    )
    async def create_case(self, info: Info, input: CreateCaseInput) -> Case | None:
        body = validated(CaseCreate, input, root=["input"])
        exploitation = body.exploitation
        # The same translation as REST's create_case endpoint.
        view = await info.context.services.cases().create(
            CaseInput(
                external_ref=body.external_ref,
                gender=str(body.survivor.gender),
                identity=body.to_identity(),
                nationality=body.survivor.nationality,
                languages=list(dict.fromkeys(body.survivor.languages)),
                exploitation_types=[str(t) for t in dict.fromkeys(exploitation.types)]
                if exploitation
                else [],
                identified_on=exploitation.identified_on if exploitation else None,
                identified_country=exploitation.country if exploitation else None,
                needs=[str(n) for n in dict.fromkeys(body.needs)],
                risk_level=str(body.risk_level) if body.risk_level else None,
            )
        )
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
