"""The care plan under a case: goals with their status history and service records, derived
from REST's models (``app.api.schemas.care_plan``) and built straight from the domain's views."""

from __future__ import annotations

from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.care_plan import CodeOut, GoalOut, ProgressOut, ServiceOut


@from_model(ProgressOut, description="One entry of a goal's status history")
class GoalProgress(Projected):
    pass


@from_model(
    GoalOut,
    description="A goal in one category of a case, owned by the lead or a care-team member "
    "(as REST's goals)",
    descriptions={"progress": "The status history, oldest first (at most 50 entries)"},
)
class Goal(Projected):
    pass


@from_model(CodeOut, description="A standard code, stored as given (e.g. ICD-10, SNOMED CT, ISCED)")
class ServiceCode(Projected):
    pass


@from_model(
    ServiceOut,
    description="A service record: an appointment, session, enrolment, assessment or supply "
    "(as REST's services)",
)
class ServiceRecord(Projected):
    pass
