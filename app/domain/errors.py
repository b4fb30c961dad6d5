"""The domain error tree.

Every error the hub reports on purpose is a :class:`DomainError`. Each class carries its HTTP status
and a stable machine ``code`` (CONTRACT §3), so REST renders it as problem+json and GraphQL as
``extensions.code`` without either knowing the other.

    DomainError
    ├── InvalidToken            401 invalid_token
    ├── InsufficientScope       403 insufficient_scope
    ├── NotFound                404 not_found
    ├── Conflict                409 conflict
    │   ├── DuplicateResource   409 conflict (carries existing_id)
    │   ├── InvalidTransition   409 invalid_transition
    │   ├── IdempotencyInFlight 409 idempotency_in_flight
    │   └── IdempotencyResponseErased 409 idempotency_response_erased
    ├── Gone                    410 gone
    │   └── CursorExpired       410 cursor_expired
    ├── PreconditionFailed      412 precondition_failed
    ├── PayloadTooLarge         413 payload_too_large
    ├── ValidationFailed        422 validation_error (carries errors: [{loc, msg}] and where)
    │   ├── ConsentRequired     422 consent_required
    │   └── IdempotencyKeyReused 422 idempotency_key_reused
    ├── PreconditionRequired    428 precondition_required
    ├── RateLimited             429 rate_limited
    └── ServiceUnavailable      503 service_unavailable

Details must never contain survivor data: callers pass field locations and fixed phrases only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

Where = Literal["body", "query", "path", "header"]


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidToken(DomainError):
    status = 401
    code = "invalid_token"
    title = "Authentication required"

    @property
    def headers(self) -> dict[str, str]:
        description = self.detail.replace('"', "'")
        return {
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        }


class InsufficientScope(DomainError):
    status = 403
    code = "insufficient_scope"
    title = "Insufficient scope"

    def __init__(self, required: Sequence[str]) -> None:
        self.required = tuple(required)
        super().__init__(
            "This request needs the scope(s): " + " ".join(self.required),
            required_scopes=list(self.required),
        )

    @property
    def headers(self) -> dict[str, str]:
        scope = " ".join(self.required)
        return {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class DuplicateResource(Conflict):
    def __init__(self, detail: str, existing_id: Any) -> None:
        super().__init__(detail, existing_id=str(existing_id))


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "Transition not allowed"


class IdempotencyInFlight(Conflict):
    code = "idempotency_in_flight"
    title = "A request with this Idempotency-Key is still being processed"


class IdempotencyResponseErased(Conflict):
    code = "idempotency_response_erased"
    title = "The first response to this Idempotency-Key was erased"


class Gone(DomainError):
    status = 410
    code = "gone"
    title = "Gone"


class CursorExpired(Gone):
    code = "cursor_expired"
    title = "The cursor is older than the retention period"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"
    title = "Precondition failed"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class ValidationFailed(DomainError):
    """Input that breaks a rule. ``loc`` (or each of ``errors``' ``loc``) is the field path inside
    the input the error concerns, without any transport root: ``["to_org_id"]``,
    ``["survivor", "date_of_birth"]``. ``where`` says which input that is: the request's
    ``"body"`` (the default), its ``"query"``, ``"path"`` or a ``"header"``; each API prefixes
    its own root (REST ``["body", "to_org_id"]``, GraphQL ``["input", "toOrgId"]``).
    ``where=None`` marks paths an API layer already wrote in its own terms."""

    status = 422
    code = "validation_error"
    title = "Invalid request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        loc: Sequence[str | int] | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
        where: Where | None = "body",
        **extra: Any,
    ) -> None:
        if errors is None:
            errors = [{"loc": list(loc or []), "msg": detail or self.title}]
        errors = [{"type": "value_error", **e} for e in errors]
        self.where = where
        super().__init__(detail, errors=errors, **extra)


class ConsentRequired(ValidationFailed):
    code = "consent_required"
    title = "Consent required"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with a different request"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition_required"
    title = "Precondition required"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}
