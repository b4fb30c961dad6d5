"""``idempotencyKey`` on the creating mutations: REST's ``Idempotency-Key``, for GraphQL.

The same key (per client, and shared with REST: one key names one request, whichever API it came
through) with the same arguments returns what the first call made, nothing created twice; with
other arguments it is ``idempotency_key_reused``, while the first call is still running
``idempotency_in_flight``. The arguments are compared as values (canonical JSON, keys sorted),
not as the text of the document, so a retry may be written differently.

No answer is stored: a GraphQL caller chooses its own selection, so the key keeps the id of what
was made, and a retry reads it afresh through the access policy (audited as that read, and
``not_found`` once the caller may no longer see it). That is why a retry after the survivor's
identity was erased still answers here, with the text now erased. Being a read, a retry needs
the scope the same read needs (``insufficient_scope`` otherwise): what was made may have moved on
since (a receiver's decline reason on a referral), and a write-only token reads nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar
from uuid import UUID

import orjson
import strawberry

from app.api.context import AppContext
from app.api.graphql.context import Info
from app.api.graphql.errors import plain_input
from app.domain.errors import InsufficientScope, ValidationFailed
from app.domain.idempotency import (
    IdempotencyService,
    KeyInput,
    StoredResponse,
    check_key,
    fingerprint,
)

V = TypeVar("V")

IdempotencyKey = Annotated[
    str | None,
    strawberry.argument(
        description="Makes the create safe to retry, as REST's `Idempotency-Key` (1-255 visible "
        "ASCII characters, scoped to your client): the same key and arguments return what the "
        "first call made, read afresh"
    ),
]
ARGUMENT = KeyInput("idempotencyKey", None)
# The stored "response" of a mutation: the id of what it made (no body).
_MADE = "made"
_METHOD = "GRAPHQL"


def _canonical_json(arguments: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(
            plain_input(arguments), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        )
    except orjson.JSONEncodeError:  # a JSON scalar JSON itself cannot carry (an integer > 64 bits)
        raise ValidationFailed(
            "The arguments hold a value that cannot be compared with a retry's (a number "
            "over 64 bits)",
            loc=["input"],
            where=None,
        ) from None


async def once(
    info: Info,
    key: str | None,
    arguments: Mapping[str, Any],
    *,
    make: Callable[[], Awaitable[V]],
    ids: Callable[[V], tuple[UUID, UUID]],
    again: Callable[[UUID], Awaitable[V]],
    read_scope: str,
) -> V:
    """Run ``make`` once per key: the first call makes it and keeps ``ids(made)`` (the made
    resource's id and its case's) under the key; a retry returns ``again(id)``, the resource
    read again as the caller may see it now, which needs ``read_scope`` (the scope of the query
    that reads it). ``arguments`` are the mutation's other arguments (strawberry inputs, ids,
    scalars), which a retry must repeat."""
    if key is None:
        return await make()
    check_key(key, ARGUMENT)
    ctx = info.context.services.ctx
    app: AppContext = info.context.request.app.state.ctx
    keys = IdempotencyService(
        ctx.session, ctx.key_wrapper, ttl_hours=app.settings.idempotency_ttl_hours
    )
    request_hash = fingerprint(_METHOD, info.field_name, _canonical_json(arguments))
    stored = await keys.claim(ctx.principal.client_id, key, request_hash, ARGUMENT)
    if stored is not None:
        if missing := ctx.principal.missing_scopes((read_scope,)):
            raise InsufficientScope(missing)
        return await again(UUID(stored.headers[_MADE]))
    made = await make()
    made_id, case_id = ids(made)
    await keys.store(
        ctx.principal.client_id,
        key,
        method=_METHOD,
        path=info.field_name,
        request_hash=request_hash,
        response=StoredResponse(
            status=200, headers={_MADE: str(made_id)}, body=b"", case_id=case_id
        ),
    )
    return made
