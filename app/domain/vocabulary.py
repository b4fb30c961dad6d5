"""The hub's controlled vocabularies (DOMAIN.md, CONTRACT.md)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class OrganizationKind(StrEnum):
    NGO_SHELTER = "ngo_shelter"
    GOVERNMENT_SHELTER = "government_shelter"
    COMMUNITY_CARE = "community_care"
    LEGAL_PARTNER = "legal_partner"
    MEDICAL_PROVIDER = "medical_provider"
    COUNSELING_PROVIDER = "counseling_provider"
    EDUCATION_TRAINING = "education_training"
    OTHER = "other"


class ServiceKind(StrEnum):
    SHELTER = "shelter"
    MEDICAL = "medical"
    COUNSELING = "counseling"
    LEGAL = "legal"
    EDUCATION = "education"
    JOB_TRAINING = "job_training"
    FAMILY_TRACING = "family_tracing"
    REPATRIATION = "repatriation"
    COMMUNITY_PLACEMENT = "community_placement"
    BASIC_NEEDS = "basic_needs"  # food, clothing, hygiene
    PROTECTION = "protection"  # safety planning
    INTERPRETATION = "interpretation"
    OTHER = "other"


class Category(StrEnum):
    DEMOGRAPHICS = "demographics"
    IDENTITY = "identity"
    EXPLOITATION = "exploitation"
    MEDICAL = "medical"
    COUNSELING = "counseling"
    LEGAL = "legal"
    EDUCATION = "education"
    PLACEMENT = "placement"
    GENERAL = "general"


# The data category a service belongs to: what a referral for it says about the survivor
# (a referral for legal help is legal information). The hub's own timeline entries about a
# referral are filed under it, so only organisations entitled to that category see them.
SERVICE_CATEGORY: Mapping[str, Category] = {
    ServiceKind.MEDICAL: Category.MEDICAL,
    ServiceKind.COUNSELING: Category.COUNSELING,
    ServiceKind.LEGAL: Category.LEGAL,
    ServiceKind.EDUCATION: Category.EDUCATION,
    ServiceKind.JOB_TRAINING: Category.EDUCATION,
    ServiceKind.SHELTER: Category.PLACEMENT,
    ServiceKind.COMMUNITY_PLACEMENT: Category.PLACEMENT,
}


def service_category(service: str) -> Category:
    """The category of a service (:data:`SERVICE_CATEGORY`); ``general`` for the others."""
    return SERVICE_CATEGORY.get(service, Category.GENERAL)


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    NON_BINARY = "non_binary"
    OTHER = "other"
    UNDISCLOSED = "undisclosed"


class ExploitationType(StrEnum):
    SEX = "sex"
    LABOUR = "labour"
    DOMESTIC_SERVITUDE = "domestic_servitude"
    FORCED_CRIMINALITY = "forced_criminality"
    FORCED_MARRIAGE = "forced_marriage"
    ORGAN_REMOVAL = "organ_removal"
    OTHER = "other"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Granter(StrEnum):
    SURVIVOR = "survivor"
    GUARDIAN = "guardian"


class UpdateKind(StrEnum):
    NOTE = "note"
    SERVICE_DELIVERED = "service_delivered"
    ASSESSMENT = "assessment"
    INCIDENT = "incident"
    STATUS_CHANGE = "status_change"
    FOLLOW_UP = "follow_up"


class AgeBand(StrEnum):
    UNDER_12 = "0-11"
    FROM_12 = "12-14"
    FROM_15 = "15-17"
    FROM_18 = "18-24"
    FROM_25 = "25-34"
    FROM_35 = "35-49"
    FROM_50 = "50+"


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    ROUTINE = "routine"


class DocumentType(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    BIRTH_CERTIFICATE = "birth_certificate"
    WORK_PERMIT = "work_permit"
    OTHER = "other"


class DocumentStatus(StrEnum):
    HELD_BY_TRAFFICKER = "held_by_trafficker"
    MISSING = "missing"
    RETRIEVAL_IN_PROGRESS = "retrieval_in_progress"
    RETRIEVED = "retrieved"
    REPLACED = "replaced"
    NOT_NEEDED = "not_needed"


class TestimonyStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PREPARATION = "in_preparation"
    READY = "ready"
    TESTIFIED = "testified"
    DECLINED = "declined"
    DEFERRED = "deferred"


class ProtectiveMeasure(StrEnum):
    VIDEO_LINK = "video_link"
    SCREEN = "screen"
    SUPPORT_PERSON = "support_person"
    CLOSED_HEARING = "closed_hearing"
    PSEUDONYM = "pseudonym"


class ProsecutionStatus(StrEnum):
    NONE = "none"
    INVESTIGATION = "investigation"
    CHARGED = "charged"
    TRIAL = "trial"
    CONCLUDED = "concluded"


class ReliefStatus(StrEnum):
    NOT_STARTED = "not_started"
    APPLIED = "applied"
    GRANTED = "granted"
    DENIED = "denied"
    NOT_ELIGIBLE = "not_eligible"


class PlacementSetting(StrEnum):
    GOVERNMENT_SHELTER = "government_shelter"
    NGO_SHELTER = "ngo_shelter"
    COMMUNITY_FAMILY = "community_family"
    FOSTER_FAMILY = "foster_family"
    INDEPENDENT_LIVING = "independent_living"
    OTHER = "other"


class ExitReason(StrEnum):
    TRANSFERRED = "transferred"
    REUNIFIED_WITH_FAMILY = "reunified_with_family"
    INDEPENDENT_LIVING = "independent_living"
    REPATRIATED = "repatriated"
    LEFT_AGAINST_ADVICE = "left_against_advice"
    AGED_OUT = "aged_out"
    OTHER = "other"


class ReviewResult(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class FollowUpOutcome(StrEnum):
    STABLE = "stable"
    AT_RISK = "at_risk"
    RE_EXPLOITED = "re_exploited"
    LOST_CONTACT = "lost_contact"
    DECLINED_CONTACT = "declined_contact"


class GoalStatus(StrEnum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"
    CANCELLED = "cancelled"


class ServiceType(StrEnum):
    APPOINTMENT = "appointment"
    SESSION = "session"
    ENROLMENT = "enrolment"
    ASSESSMENT = "assessment"
    SUPPLY = "supply"


class ServiceStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class CarePlanCategory(StrEnum):
    """The categories a goal or a service record may belong to: the domains of care."""

    MEDICAL = "medical"
    COUNSELING = "counseling"
    LEGAL = "legal"
    EDUCATION = "education"
    PLACEMENT = "placement"
    GENERAL = "general"
