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
