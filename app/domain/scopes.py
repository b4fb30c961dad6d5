"""OAuth scopes (CONTRACT §2) and which scope reads or writes each data category."""

from __future__ import annotations

from types import MappingProxyType

from app.domain.vocabulary import Category

SCOPES: MappingProxyType[str, str] = MappingProxyType(
    {
        "directory:write": "Edit your organisation's directory profile and capacity",
        "cases:read": "Read cases (demographics, identity, exploitation, general)",
        "cases:write": "Open, edit and close cases; post case updates",
        "consents:write": "Record and revoke consents",
        "referrals:read": "Read referrals",
        "referrals:write": "Create referrals and move them through their states",
        "medical:read": "Read medical data",
        "medical:write": "Write medical data",
        "counseling:read": "Read counselling data",
        "counseling:write": "Write counselling data",
        "legal:read": "Read legal data",
        "legal:write": "Write legal data",
        "education:read": "Read education data",
        "education:write": "Write education data",
        "placements:read": "Read placement data",
        "placements:write": "Write placement data",
        "events:read": "Read your change feed of events",
        "webhooks:manage": "Manage webhook subscriptions",
        "reports:read": "Read de-identified aggregate reports",
        "audit:read": "Read access logs of cases you lead",
    }
)

ALL_SCOPES: frozenset[str] = frozenset(SCOPES)

_READ_SCOPE = {
    Category.MEDICAL: "medical:read",
    Category.COUNSELING: "counseling:read",
    Category.LEGAL: "legal:read",
    Category.EDUCATION: "education:read",
    Category.PLACEMENT: "placements:read",
}
_WRITE_SCOPE = {
    Category.MEDICAL: "medical:write",
    Category.COUNSELING: "counseling:write",
    Category.LEGAL: "legal:write",
    Category.EDUCATION: "education:write",
    Category.PLACEMENT: "placements:write",
}


def read_scope_for(category: Category) -> str:
    """The scope that lets a token read ``category`` (``cases:read`` where none of its own)."""
    return _READ_SCOPE.get(category, "cases:read")


def write_scope_for(category: Category) -> str | None:
    """The category's own ``:write`` scope, if it has one (``cases:write`` is needed anyway)."""
    return _WRITE_SCOPE.get(category)


def parse_scope(value: str | None) -> list[str]:
    """Split an RFC 6749 scope string, keeping order and dropping duplicates."""
    seen: dict[str, None] = {}
    for part in (value or "").split(" "):
        if part:
            seen.setdefault(part, None)
    return list(seen)


def unknown_scopes(scopes: list[str] | frozenset[str]) -> list[str]:
    return sorted(s for s in scopes if s not in ALL_SCOPES)
