"""The hub's controlled vocabularies (DOMAIN.md, CONTRACT.md)."""

from __future__ import annotations

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
