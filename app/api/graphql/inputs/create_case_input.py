from __future__ import annotations

import strawberry

from app.api.graphql.inputs.exploitation_input import ExploitationInput
from app.api.graphql.inputs.guardian_input import GuardianInput
from app.api.graphql.inputs.survivor_input import SurvivorInput
from app.api.graphql.types.enums import RiskLevel, ServiceKind


@strawberry.input(description="Intake: the same fields and rules as `POST /v1/cases`")
class CreateCaseInput:
    external_ref: str = strawberry.field(description="Your own id (unique per lead)")
    survivor: SurvivorInput
    exploitation: ExploitationInput | None = None
    needs: list[ServiceKind] | None = None
    risk_level: RiskLevel | None = None
    guardian: GuardianInput | None = strawberry.field(
        default=None, description="Required for a minor"
    )
