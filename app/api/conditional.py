"""ETag / If-Match (CONTRACT §3): the version of a resource is its entity tag.

``If-Match`` is evaluated as RFC 9110 §13.1.1 says: with the *strong* comparison, so a weak tag
(``W/"1"``) never matches, nor does ``"01"`` match ``"1"``; ``*`` matches any current version;
a list matches when any of its tags does. A field that is not valid ``"*" / #entity-tag`` syntax
cannot be evaluated, so it is treated as a condition that does not hold (412), never as absent.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from app.domain.errors import PreconditionFailed, PreconditionRequired

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3)
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
# The tags we issue: a version in canonical decimal (no sign, no leading zeros), at most 9 digits.
_VERSION = re.compile(r"0|[1-9][0-9]{0,8}")


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> frozenset[int] | None:
    """The versions the caller's ``If-Match`` accepts; ``None`` for ``*`` (any version).

    Missing → 428. Malformed, or naming none of our versions with a strong tag → 412. The domain
    answers 412 as well when the current version is not among those returned.
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("This request needs an If-Match header with the current ETag")
    if if_match.strip() == "*":
        return None
    versions: set[int] = set()
    for member in if_match.split(","):
        member = member.strip(" \t")
        if not member:
            continue  # empty list elements are allowed (RFC 9110 §5.6.1)
        match = _ENTITY_TAG.fullmatch(member)
        if match is None:
            raise PreconditionFailed("If-Match is not a valid entity tag or list of entity tags")
        weak, opaque = match.groups()
        if not weak and _VERSION.fullmatch(opaque):
            versions.add(int(opaque))
    if not versions:
        raise PreconditionFailed("If-Match does not match the current ETag")
    return frozenset(versions)


# The versions an ``If-Match`` accepts (``None``: any), as the edit kinds pass them to an endpoint's
# ``expected_version`` (app.api.routes).
Versions = frozenset[int] | None

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag of the version being changed"),
]


def none_match(if_none_match: str, current: str) -> bool:
    """Does ``If-None-Match`` name the current entity tag (RFC 9110 §13.1.2: the *weak*
    comparison, ``*`` matches any)? A field that cannot be parsed matches nothing."""
    value = if_none_match.strip()
    if value == "*":
        return True
    found = _ENTITY_TAG.fullmatch(current.strip())
    if found is None:
        return False
    for member in value.split(","):
        match = _ENTITY_TAG.fullmatch(member.strip(" \t"))
        if match is not None and match.group(2) == found.group(2):
            return True
    return False
