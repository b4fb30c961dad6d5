"""Errors: every non-2xx answer of the API becomes a typed :class:`Problem` exception.

The API answers errors as RFC 9457 ``application/problem+json`` with a stable machine ``code``;
the exception carries ``status``, ``code``, ``title``, ``detail`` and, for 422, ``errors``
(``[{"loc": [...], "msg": ...}]``). Catch the subclass for the case you handle, or ``Problem``
for all of them::

    try:
        client.referrals.accept(referral_id)
    except InvalidTransition:
        ...  # already accepted, declined or withdrawn
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import httpx

__all__ = [
    "AftercareError",
    "Conflict",
    "ConsentRequired",
    "FieldError",
    "Forbidden",
    "InsufficientScope",
    "InvalidTransition",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "Problem",
    "RateLimited",
    "ServiceUnavailable",
    "TokenError",
    "Unauthorized",
    "ValidationFailed",
    "WebhookVerificationError",
]


class AftercareError(Exception):
    """Base of every exception this package raises."""


class TokenError(AftercareError):
    """The token endpoint refused the client credentials (RFC 6749 ``error``)."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(f"{status} {error}" + (f": {description}" if description else ""))
        self.status = status
        self.error = error
        self.description = description


class WebhookVerificationError(AftercareError):
    """A webhook delivery's signature or timestamp did not verify: drop the request."""


class FieldError(TypedDict):
    loc: list[str | int]
    msg: str


class Problem(AftercareError):
    """An ``application/problem+json`` answer of the API."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        errors: list[FieldError] | None = None,
        extra: Mapping[str, Any] | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        message = f"{status} {code}: {detail}"
        if errors:
            message += " (" + "; ".join(f"{_loc(e)}: {e.get('msg')}" for e in errors[:5]) + ")"
        super().__init__(message)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.type = type
        self.errors: list[FieldError] = errors or []
        self.extra: dict[str, Any] = dict(extra or {})
        self.response = response

    @property
    def request_id(self) -> str | None:
        if self.response is None:
            return None
        value = self.response.headers.get("x-request-id")
        return str(value) if value is not None else None


def _loc(error: FieldError) -> str:
    return ".".join(str(part) for part in error.get("loc", []))


class Unauthorized(Problem):
    """401: missing, expired or revoked token (the client already fetched a new one once)."""


class Forbidden(Problem):
    """403."""


class InsufficientScope(Forbidden):
    """403 ``insufficient_scope``: the token lacks a scope the call needs."""

    @property
    def required_scopes(self) -> list[str]:
        """The scopes the call needs (ask the hub's operator for those you lack)."""
        value = self.extra.get("required_scopes")
        return [str(v) for v in value] if isinstance(value, list) else []


class NotFound(Problem):
    """404 ``not_found``: missing, or not visible to your organisation (the API does not say)."""


class Conflict(Problem):
    """409 ``conflict`` (and other 409 codes)."""

    @property
    def existing_id(self) -> str | None:
        """For a duplicate ``external_ref``: the id of the case that already uses it."""
        value = self.extra.get("existing_id")
        return str(value) if value is not None else None


class InvalidTransition(Conflict):
    """409 ``invalid_transition``: the resource's state does not allow this action."""


class ConsentRequired(Problem):
    """``consent_required``: sharing a category needs an active consent for the recipient."""

    @property
    def uncovered_categories(self) -> list[str]:
        """The categories the referral would share that no active consent covers."""
        value = self.extra.get("uncovered_categories")
        return [str(v) for v in value] if isinstance(value, list) else []


class PreconditionFailed(Problem):
    """412 ``precondition_failed``: ``version=`` is stale; read the resource again."""


class PreconditionRequired(Problem):
    """428 ``precondition_required``: the update needs ``version=``."""


class ValidationFailed(Problem):
    """422 ``validation_error`` (and other 422 codes); see ``errors``."""


class RateLimited(Problem):
    """429 ``rate_limited``, raised once the client's retries are spent."""

    @property
    def retry_after(self) -> float | None:
        from aftercare_client._transport import retry_after

        return retry_after(self.response) if self.response is not None else None


class ServiceUnavailable(Problem):
    """503, raised once the client's retries are spent."""


_BY_CODE: dict[str, type[Problem]] = {
    "not_found": NotFound,
    "validation_error": ValidationFailed,
    "conflict": Conflict,
    "invalid_transition": InvalidTransition,
    "consent_required": ConsentRequired,
    "precondition_failed": PreconditionFailed,
    "precondition_required": PreconditionRequired,
    "rate_limited": RateLimited,
    "insufficient_scope": InsufficientScope,
    "invalid_token": Unauthorized,
}
_BY_STATUS: dict[int, type[Problem]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationFailed,
    428: PreconditionRequired,
    429: RateLimited,
    503: ServiceUnavailable,
}
_KNOWN = {"type", "title", "status", "detail", "code", "errors"}


def problem_from(response: httpx.Response) -> Problem:
    """The exception for a non-2xx ``response`` (whatever its body)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = response.status_code
    code = str(body.get("code") or _code_from_www_authenticate(response) or f"http_{status}")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, Problem)
    errors = body.get("errors")
    return cls(
        status,
        code,
        str(body.get("title") or response.reason_phrase),
        str(body.get("detail") or body.get("title") or response.reason_phrase),
        type=str(body.get("type") or "about:blank"),
        errors=errors if isinstance(errors, list) else None,
        extra={k: v for k, v in body.items() if k not in _KNOWN},
        response=response,
    )


def _code_from_www_authenticate(response: httpx.Response) -> str | None:
    header = str(response.headers.get("www-authenticate", ""))
    marker = 'error="'
    if marker in header:
        return header.split(marker, 1)[1].split('"', 1)[0]
    return None
