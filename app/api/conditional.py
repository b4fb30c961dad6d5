"""ETag / If-Match (CONTRACT §3): the version of a resource is its entity tag."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from app.domain.errors import PreconditionFailed, PreconditionRequired

_ETAG = re.compile(r'\s*(?:W/)?"([^"]*)"\s*')


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version the caller's ``If-Match`` names; ``None`` for ``*``.

    Missing → 428; a tag that is not one of ours can never match → 412.
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired("This request needs an If-Match header with the current ETag")
    if if_match.strip() == "*":
        return None
    versions = []
    for part in if_match.split(","):
        match = _ETAG.fullmatch(part)
        if match and match.group(1).isdigit() and len(match.group(1)) <= 9:
            versions.append(int(match.group(1)))
    if len(versions) != 1:
        raise PreconditionFailed("If-Match does not match the current ETag")
    return versions[0]


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag of the version being changed"),
]
