"""GraphQL enums: the hub's vocabularies, with the same values as REST (CONTRACT's spelling).

Each enum's GraphQL values are the contract's wire values (``care_team``, ``in_progress``,
``medical``), not upper-cased names, so REST, GraphQL and webhooks speak one vocabulary.
"""

from __future__ import annotations

from enum import StrEnum

import strawberry

from app.domain import vocabulary
from app.domain.referral_rules import OutcomeCode as _OutcomeCode
from app.domain.referral_rules import ReasonCode as _ReasonCode
from app.domain.referral_rules import ReferralStatus as _ReferralStatus


def _graphql(enum: type[StrEnum], description: str) -> None:
    strawberry.enum(enum, description=description, graphql_name_from="value")


_graphql(vocabulary.OrganizationKind, "What kind of partner an organisation is")
_graphql(vocabulary.ServiceKind, "A service a partner offers or a survivor needs")
_graphql(vocabulary.Category, "A category of case data; visibility is decided per category")
_graphql(vocabulary.Gender, "Gender as the survivor describes it")
_graphql(vocabulary.ExploitationType, "A form of exploitation")
_graphql(vocabulary.RiskLevel, "Assessed risk to the survivor")
_graphql(vocabulary.CaseStatus, "Whether a case is open")
_graphql(vocabulary.Granter, "Who gave a consent")
_graphql(vocabulary.UpdateKind, "What a timeline update records")
_graphql(vocabulary.Urgency, "How urgent a referral is")
_graphql(_ReferralStatus, "Where a referral is in its life cycle")
_graphql(_ReasonCode, "Why a referral was declined or failed")
_graphql(_OutcomeCode, "How a completed referral ended")
_graphql(vocabulary.TestimonyStatus, "Where a survivor's testimony preparation stands")
_graphql(vocabulary.ProtectiveMeasure, "A measure protecting a survivor who testifies")
_graphql(vocabulary.DocumentType, "An identity document")
_graphql(vocabulary.DocumentStatus, "Where an identity document is (traffickers often keep them)")
_graphql(vocabulary.ProsecutionStatus, "Where the prosecution stands")
_graphql(vocabulary.ReliefStatus, "Where an immigration-relief application stands")
_graphql(vocabulary.PlacementSetting, "Where a survivor is placed")
_graphql(vocabulary.ExitReason, "Why a placement ended")
_graphql(vocabulary.CarePlanCategory, "The domain of care a goal or service record belongs to")
_graphql(vocabulary.GoalStatus, "Where a goal stands (achieved, not_achieved, cancelled: final)")
_graphql(vocabulary.ServiceType, "What kind of service record")
_graphql(vocabulary.ServiceStatus, "Where a service record stands")

OrganizationKind = vocabulary.OrganizationKind
ServiceKind = vocabulary.ServiceKind
Category = vocabulary.Category
Gender = vocabulary.Gender
ExploitationType = vocabulary.ExploitationType
RiskLevel = vocabulary.RiskLevel
CaseStatus = vocabulary.CaseStatus
Granter = vocabulary.Granter
UpdateKind = vocabulary.UpdateKind
Urgency = vocabulary.Urgency
ReasonCode = _ReasonCode
OutcomeCode = _OutcomeCode
ReferralStatus = _ReferralStatus
TestimonyStatus = vocabulary.TestimonyStatus
ProtectiveMeasure = vocabulary.ProtectiveMeasure
DocumentType = vocabulary.DocumentType
DocumentStatus = vocabulary.DocumentStatus
ProsecutionStatus = vocabulary.ProsecutionStatus
ReliefStatus = vocabulary.ReliefStatus
PlacementSetting = vocabulary.PlacementSetting
ExitReason = vocabulary.ExitReason


@strawberry.enum(graphql_name_from="value", description="Your relationship to a case")
class CaseRole(StrEnum):
    LEAD = "lead"
    CARE_TEAM = "care_team"


@strawberry.enum(graphql_name_from="value", description="Whether you sent or received a referral")
class ReferralDirection(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


@strawberry.enum(graphql_name_from="value", description="A consent's state at this moment")
class ConsentStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    PENDING = "pending"


CarePlanCategory = vocabulary.CarePlanCategory
GoalStatus = vocabulary.GoalStatus
ServiceType = vocabulary.ServiceType
ServiceStatus = vocabulary.ServiceStatus
