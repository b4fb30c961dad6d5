"""The asynchronous client. ``_sync_client.py`` is generated from this file by
``scripts/unasync.py`` (the same code without ``async``/``await``), so both clients have exactly
the same surface; edit this file and run ``python clients/python/scripts/unasync.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, Unpack

import httpx

from aftercare_client._errors import TokenError, problem_from
from aftercare_client._inputs import (
    CasePatch,
    CodeIn,
    DateLike,
    DateTimeLike,
    ExploitationIn,
    GuardianIn,
    IdLike,
    ImmigrationReliefIn,
    LegalDocumentIn,
    OrganizationPatch,
    ProsecutionIn,
    ServicePatch,
    SurvivorIn,
    TestimonyIn,
    WebhookPatch,
    jsonable,
)
from aftercare_client._models import (
    AccessLogEntry,
    CarePlan,
    Case,
    Consent,
    Delivery,
    DueFollowUp,
    Event,
    FollowUp,
    Goal,
    HomeReview,
    LegalRecord,
    Organization,
    OverdueVisit,
    Page,
    Placement,
    QueuedDelivery,
    Referral,
    ReportSummary,
    ScheduledService,
    ServiceRecord,
    TestimonyRow,
    TimelineUpdate,
    Token,
    Visit,
    Webhook,
    WebhookPing,
    WebhookSecret,
    WebhookWithSecret,
    parse,
    parse_page,
)
from aftercare_client._transport import RETRY_STATUSES, RetryPolicy, TokenState, async_sleep

__all__ = ["AsyncAftercareClient", "AsyncEventStream"]

T = TypeVar("T")
Params = Mapping[str, Any]
USER_AGENT = "aftercare-client-python/0.1.0"


def _params(**values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        out[key] = jsonable(value)
    return out


def _body(**values: Any) -> dict[str, Any]:
    """The JSON body: arguments left at ``None`` are not sent (the server's default applies)."""
    return {key: value for key, value in values.items() if value is not None}


def _if_match(version: int) -> dict[str, str]:
    return {"If-Match": f'"{version}"'}


class AsyncAftercareClient:
    """A partner's connection to the hub: OAuth client credentials, typed resources, retries.

    ::

        async with AsyncAftercareClient(url, client_id, client_secret) as hub:
            case = await hub.cases.create(external_ref="K-1", survivor={"gender": "female"})

    The access token is fetched on first use and again ``refresh_margin`` seconds before it
    expires (and once more if the API answers 401 ``invalid_token``, e.g. after a revocation).
    ``scopes`` asks for a subset of the client's scopes; by default the token carries all of them.
    Answers 429 and 503 are retried as ``retry`` says (``Retry-After`` honoured); every create is
    sent with an ``Idempotency-Key`` (one per call, the same on its retries), so a retry never
    creates twice. Errors raise :class:`~aftercare_client.Problem` subclasses.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        scopes: Sequence[str] | str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        refresh_margin: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )
        self._owns_http = http_client is None
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scopes if isinstance(scopes, str) or scopes is None else " ".join(scopes)
        self._retry = retry or RetryPolicy()
        self._tokens = TokenState(margin=refresh_margin)
        self._token_lock = asyncio.Lock()
        self._clock = clock
        self.organizations = AsyncOrganizations(self)
        self.cases = AsyncCases(self)
        self.consents = AsyncConsents(self)
        self.updates = AsyncUpdates(self)
        self.referrals = AsyncReferrals(self)
        self.events = AsyncEvents(self)
        self.webhooks = AsyncWebhooks(self)
        self.goals = AsyncGoals(self)
        self.services = AsyncServices(self)
        self.legal = AsyncLegal(self)
        self.placements = AsyncPlacements(self)
        self.follow_ups = AsyncFollowUps(self)
        self.reports = AsyncReports(self)

    async def __aenter__(self) -> AsyncAftercareClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- tokens ---------------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access token, fetched when there is none or it is about to expire."""
        token = self._tokens.valid(self._clock())
        if token is not None:
            return token
        async with self._token_lock:
            token = self._tokens.valid(self._clock())
            if token is None:
                fetched = await self._fetch_token()
                self._tokens.store(
                    fetched.access_token, fetched.expires_in, fetched.scope, self._clock()
                )
                token = fetched.access_token
            return token

    async def _fetch_token(self) -> Token:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        attempt = 0
        while True:
            response = await self._http.post(
                "/oauth/token", data=form, auth=(self._client_id, self._client_secret)
            )
            if response.status_code in RETRY_STATUSES:
                attempt += 1
                delay = self._retry.delay(attempt, response)
                if delay is not None:
                    await async_sleep(delay)
                    continue
            if response.is_error:
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                body = body if isinstance(body, dict) else {}
                raise TokenError(
                    response.status_code,
                    str(body.get("error") or body.get("code") or f"http_{response.status_code}"),
                    body.get("error_description") or body.get("detail"),
                )
            return parse(Token, response.json())

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        create: bool = False,
        idempotency_key: str | None = None,
        request_timeout: float | None = None,
    ) -> httpx.Response:
        """Send one logical request: authorised, retried when that is safe, errors raised.

        ``create=True`` adds an ``Idempotency-Key`` (``idempotency_key`` or a new uuid4) that
        every retry of this call repeats."""
        sent: dict[str, str] = dict(headers or {})
        if create or idempotency_key:
            sent["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        # A transport error leaves us not knowing whether the server acted: only a request that
        # changes nothing, or a create that the key makes safe to repeat, is sent again.
        retry_on_transport_error = method in ("GET", "HEAD") or "Idempotency-Key" in sent
        body = jsonable(json) if json is not None else None
        attempt = 0
        token_refreshed = False
        while True:
            token = await self.access_token()
            sent["Authorization"] = f"Bearer {token}"
            try:
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    json=body,
                    headers=sent,
                    timeout=request_timeout
                    if request_timeout is not None
                    else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError:
                attempt += 1
                delay = self._retry.delay(attempt, None) if retry_on_transport_error else None
                if delay is None:
                    raise
                await async_sleep(delay)
                continue
            if response.status_code == 401 and not token_refreshed:
                token_refreshed = True
                self._tokens.forget(token)
                continue
            if response.status_code in RETRY_STATUSES:
                attempt += 1
                delay = self._retry.delay(attempt, response)
                if delay is not None:
                    await async_sleep(delay)
                    continue
            if response.is_error:
                raise problem_from(response)
            return response

    async def _get(self, cls: type[T], path: str, params: Params | None = None) -> T:
        response = await self.request("GET", path, params=params)
        return parse(cls, response.json())

    async def _page(self, cls: type[T], path: str, params: Params) -> Page[T]:
        response = await self.request("GET", path, params=params)
        return parse_page(cls, response.json())

    async def _iter(self, cls: type[T], path: str, params: Params) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self._page(cls, path, {**params, **_params(cursor=cursor, limit=100)})
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _post(
        self,
        cls: type[T],
        path: str,
        body: Any = None,
        *,
        create: bool = False,
        idempotency_key: str | None = None,
    ) -> T:
        response = await self.request(
            "POST", path, json=body, create=create, idempotency_key=idempotency_key
        )
        return parse(cls, response.json())

    async def _patch(self, cls: type[T], path: str, body: Any, version: int) -> T:
        response = await self.request("PATCH", path, json=body, headers=_if_match(version))
        return parse(cls, response.json())

    async def _put(self, cls: type[T], path: str, body: Any, version: int) -> T:
        response = await self.request("PUT", path, json=body, headers=_if_match(version))
        return parse(cls, response.json())


class _Area:
    def __init__(self, client: AsyncAftercareClient) -> None:
        self._c = client


class AsyncOrganizations(_Area):
    """The directory: ``GET /v1/organizations…``."""

    async def me(self) -> Organization:
        return await self._c._get(Organization, "/v1/organizations/me")

    async def update_me(
        self, *, version: int, **changes: Unpack[OrganizationPatch]
    ) -> Organization:
        return await self._c._patch(Organization, "/v1/organizations/me", changes, version)

    async def get(self, org_id: IdLike) -> Organization:
        return await self._c._get(Organization, f"/v1/organizations/{org_id}")

    async def search(
        self,
        *,
        kind: str | None = None,
        service: str | None = None,
        country: str | None = None,
        accepts_minors: bool | None = None,
        has_capacity: bool | None = None,
        language: str | None = None,
        region: str | None = None,
        age: int | None = None,
        gender: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Organization]:
        params = _params(
            kind=kind,
            service=service,
            country=country,
            accepts_minors=accepts_minors,
            has_capacity=has_capacity,
            language=language,
            region=region,
            age=age,
            gender=gender,
            limit=limit,
            cursor=cursor,
        )
        return await self._c._page(Organization, "/v1/organizations", params)

    def iter(
        self,
        *,
        kind: str | None = None,
        service: str | None = None,
        country: str | None = None,
        accepts_minors: bool | None = None,
        has_capacity: bool | None = None,
        language: str | None = None,
        region: str | None = None,
        age: int | None = None,
        gender: str | None = None,
    ) -> AsyncIterator[Organization]:
        params = _params(
            kind=kind,
            service=service,
            country=country,
            accepts_minors=accepts_minors,
            has_capacity=has_capacity,
            language=language,
            region=region,
            age=age,
            gender=gender,
        )
        return self._c._iter(Organization, "/v1/organizations", params)


class AsyncCases(_Area):
    async def create(
        self,
        *,
        external_ref: str,
        survivor: SurvivorIn,
        guardian: GuardianIn | None = None,
        exploitation: ExploitationIn | None = None,
        needs: Sequence[str] | None = None,
        risk_level: str | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        body = _body(
            external_ref=external_ref,
            survivor=survivor,
            guardian=guardian,
            exploitation=exploitation,
            needs=list(needs) if needs is not None else None,
            risk_level=risk_level,
        )
        return await self._c._post(
            Case, "/v1/cases", body, create=True, idempotency_key=idempotency_key
        )

    async def get(self, case_id: IdLike) -> Case:
        return await self._c._get(Case, f"/v1/cases/{case_id}")

    async def list(
        self,
        *,
        status: str | None = None,
        role: str | None = None,
        updated_since: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Case]:
        params = _params(
            status=status, role=role, updated_since=updated_since, limit=limit, cursor=cursor
        )
        return await self._c._page(Case, "/v1/cases", params)

    def iter(
        self,
        *,
        status: str | None = None,
        role: str | None = None,
        updated_since: datetime | str | None = None,
    ) -> AsyncIterator[Case]:
        params = _params(status=status, role=role, updated_since=updated_since)
        return self._c._iter(Case, "/v1/cases", params)

    async def update(self, case_id: IdLike, *, version: int, **changes: Unpack[CasePatch]) -> Case:
        """``PATCH`` with ``If-Match`` for ``version`` (stale → PreconditionFailed)."""
        return await self._c._patch(Case, f"/v1/cases/{case_id}", changes, version)

    async def close(self, case_id: IdLike, *, reason: str) -> Case:
        return await self._c._post(Case, f"/v1/cases/{case_id}/close", {"reason": reason})

    async def erase_identity(self, case_id: IdLike) -> None:
        """Erase the survivor's identity for good (its encryption key is destroyed)."""
        await self._c.request("DELETE", f"/v1/cases/{case_id}/survivor-identity")

    async def care_plan(self, case_id: IdLike) -> CarePlan:
        """Goals and upcoming service records in the categories you may see, with attendance."""
        return await self._c._get(CarePlan, f"/v1/cases/{case_id}/care-plan")

    async def access_log(
        self, case_id: IdLike, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[AccessLogEntry]:
        """Who read or changed a case you lead, newest first (scope ``audit:read``; a case you
        do not lead is 404)."""
        params = _params(limit=limit, cursor=cursor)
        return await self._c._page(AccessLogEntry, f"/v1/cases/{case_id}/access-log", params)

    def iter_access_log(self, case_id: IdLike) -> AsyncIterator[AccessLogEntry]:
        return self._c._iter(AccessLogEntry, f"/v1/cases/{case_id}/access-log", {})


class AsyncConsents(_Area):
    async def create(
        self,
        case_id: IdLike,
        *,
        granted_by: Sequence[str],
        categories: Sequence[str],
        purpose: str,
        obtained_at: DateTimeLike,
        recipient_org_id: IdLike | None = None,
        recipient_kinds: Sequence[str] | None = None,
        expires_at: DateTimeLike | None = None,
        evidence_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> Consent:
        """Record a consent for one organisation (``recipient_org_id``) or for kinds of them."""
        body = _body(
            granted_by=list(granted_by),
            categories=list(categories),
            purpose=purpose,
            obtained_at=obtained_at,
            recipient_org_id=recipient_org_id,
            recipient_kinds=list(recipient_kinds) if recipient_kinds is not None else None,
            expires_at=expires_at,
            evidence_ref=evidence_ref,
        )
        path = f"/v1/cases/{case_id}/consents"
        return await self._c._post(
            Consent, path, body, create=True, idempotency_key=idempotency_key
        )

    async def get(self, case_id: IdLike, consent_id: IdLike) -> Consent:
        return await self._c._get(Consent, f"/v1/cases/{case_id}/consents/{consent_id}")

    async def list(
        self, case_id: IdLike, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Consent]:
        params = _params(limit=limit, cursor=cursor)
        return await self._c._page(Consent, f"/v1/cases/{case_id}/consents", params)

    def iter(self, case_id: IdLike) -> AsyncIterator[Consent]:
        return self._c._iter(Consent, f"/v1/cases/{case_id}/consents", {})

    async def revoke(self, case_id: IdLike, consent_id: IdLike, *, reason: str) -> Consent:
        path = f"/v1/cases/{case_id}/consents/{consent_id}/revoke"
        return await self._c._post(Consent, path, {"reason": reason})


class AsyncUpdates(_Area):
    """The case timeline."""

    async def post(
        self,
        case_id: IdLike,
        *,
        kind: str,
        category: str,
        occurred_at: DateTimeLike,
        summary: str,
        details: Mapping[str, Any] | None = None,
        supersedes: IdLike | None = None,
        idempotency_key: str | None = None,
    ) -> TimelineUpdate:
        body = _body(
            kind=kind,
            category=category,
            occurred_at=occurred_at,
            summary=summary,
            details=dict(details) if details is not None else None,
            supersedes=supersedes,
        )
        path = f"/v1/cases/{case_id}/updates"
        return await self._c._post(
            TimelineUpdate, path, body, create=True, idempotency_key=idempotency_key
        )

    async def get(self, case_id: IdLike, update_id: IdLike) -> TimelineUpdate:
        return await self._c._get(TimelineUpdate, f"/v1/cases/{case_id}/updates/{update_id}")

    async def list(
        self,
        case_id: IdLike,
        *,
        category: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[TimelineUpdate]:
        params = _params(category=category, limit=limit, cursor=cursor)
        return await self._c._page(TimelineUpdate, f"/v1/cases/{case_id}/updates", params)

    def iter(
        self, case_id: IdLike, *, category: str | None = None
    ) -> AsyncIterator[TimelineUpdate]:
        params = _params(category=category)
        return self._c._iter(TimelineUpdate, f"/v1/cases/{case_id}/updates", params)


class AsyncReferrals(_Area):
    async def create(
        self,
        *,
        case_id: IdLike,
        to_org_id: IdLike,
        service: str,
        urgency: str,
        reason: str,
        shared_categories: Sequence[str] | None = None,
        respond_by: DateTimeLike | None = None,
        transfer_lead: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Referral:
        body = _body(
            case_id=case_id,
            to_org_id=to_org_id,
            service=service,
            urgency=urgency,
            reason=reason,
            shared_categories=list(shared_categories) if shared_categories is not None else None,
            respond_by=respond_by,
            transfer_lead=transfer_lead,
        )
        return await self._c._post(
            Referral, "/v1/referrals", body, create=True, idempotency_key=idempotency_key
        )

    async def get(self, referral_id: IdLike) -> Referral:
        return await self._c._get(Referral, f"/v1/referrals/{referral_id}")

    async def list(
        self,
        *,
        direction: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Referral]:
        params = _params(direction=direction, status=status, limit=limit, cursor=cursor)
        return await self._c._page(Referral, "/v1/referrals", params)

    def iter(
        self, *, direction: str | None = None, status: str | None = None
    ) -> AsyncIterator[Referral]:
        params = _params(direction=direction, status=status)
        return self._c._iter(Referral, "/v1/referrals", params)

    async def _act(self, referral_id: IdLike, action: str, body: Any = None) -> Referral:
        return await self._c._post(Referral, f"/v1/referrals/{referral_id}/{action}", body)

    async def accept(self, referral_id: IdLike) -> Referral:
        return await self._act(referral_id, "accept")

    async def decline(
        self, referral_id: IdLike, *, reason: str, reason_code: str | None = None
    ) -> Referral:
        return await self._act(
            referral_id, "decline", _body(reason=reason, reason_code=reason_code)
        )

    async def start(self, referral_id: IdLike) -> Referral:
        return await self._act(referral_id, "start")

    async def complete(
        self, referral_id: IdLike, *, outcome: str, outcome_code: str | None = None
    ) -> Referral:
        body = _body(outcome=outcome, outcome_code=outcome_code)
        return await self._act(referral_id, "complete", body)

    async def fail(
        self, referral_id: IdLike, *, reason: str, reason_code: str | None = None
    ) -> Referral:
        return await self._act(referral_id, "fail", _body(reason=reason, reason_code=reason_code))

    async def withdraw(self, referral_id: IdLike, *, reason: str) -> Referral:
        return await self._act(referral_id, "withdraw", {"reason": reason})


class AsyncEventStream:
    """The event feed, followed for ever (or until :meth:`stop`) with long polls.

    ::

        stream = hub.events.iter(after=load_cursor(), wait=30)
        async for event in stream:
            handle(event)                 # dedupe by event.id: delivery is at least once
            save_cursor(stream.cursor)

    ``cursor`` is where to resume: it moves past a page once the last event of that page has been
    handed out (and past empty pages), so saving it after handling each event never skips one.
    """

    def __init__(
        self,
        events: AsyncEvents,
        after: str | None,
        types: Sequence[str] | None,
        wait: int,
        limit: int,
    ) -> None:
        self._events = events
        self.cursor = after
        self._types = types
        self._wait = wait
        self._limit = limit
        self._buffer: deque[Event] = deque()
        self._next: str | None = None
        self._stopped = False

    def stop(self) -> None:
        """End the iteration (after the poll in flight, if any, returns)."""
        self._stopped = True

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._buffer:
            if self._stopped:
                raise StopAsyncIteration
            page = await self._events.list(
                after=self.cursor, types=self._types, limit=self._limit, wait=self._wait
            )
            if page.items:
                self._buffer.extend(page.items)
                self._next = page.next_cursor
            else:
                self.cursor = page.next_cursor
        event = self._buffer.popleft()
        if not self._buffer:
            self.cursor = self._next
        return event


class AsyncEvents(_Area):
    """The change feed (``GET /v1/events``)."""

    async def list(
        self,
        *,
        after: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
        wait: int | None = None,
    ) -> Page[Event]:
        """One page; ``wait`` (≤ 30 s) holds the request open until an event comes.
        ``next_cursor`` is never ``None`` here: pass it as ``after`` next time."""
        params = _params(after=after, types=types, limit=limit, wait=wait)
        response = await self._c.request(
            "GET", "/v1/events", params=params, request_timeout=(wait or 0) + 30.0
        )
        return parse_page(Event, response.json())

    def iter(
        self,
        *,
        after: str | None = None,
        types: Sequence[str] | None = None,
        wait: int = 30,
        limit: int = 100,
    ) -> AsyncEventStream:
        return AsyncEventStream(self, after, types, wait, limit)


class AsyncWebhooks(_Area):
    async def create(
        self,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> WebhookWithSecret:
        """Subscribe; the answer's ``secret`` is shown this once: keep it for verify_webhook."""
        body = _body(url=url, event_types=list(event_types), description=description)
        return await self._c._post(
            WebhookWithSecret, "/v1/webhooks", body, create=True, idempotency_key=idempotency_key
        )

    async def list(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[Webhook]:
        params = _params(status=status, limit=limit, cursor=cursor)
        return await self._c._page(Webhook, "/v1/webhooks", params)

    def iter(self, *, status: str | None = None) -> AsyncIterator[Webhook]:
        return self._c._iter(Webhook, "/v1/webhooks", _params(status=status))

    async def get(self, webhook_id: IdLike) -> Webhook:
        return await self._c._get(Webhook, f"/v1/webhooks/{webhook_id}")

    async def update(
        self, webhook_id: IdLike, *, version: int, **changes: Unpack[WebhookPatch]
    ) -> Webhook:
        return await self._c._patch(Webhook, f"/v1/webhooks/{webhook_id}", changes, version)

    async def delete(self, webhook_id: IdLike, *, version: int | None = None) -> None:
        headers = _if_match(version) if version is not None else None
        await self._c.request("DELETE", f"/v1/webhooks/{webhook_id}", headers=headers)

    async def rotate_secret(self, webhook_id: IdLike) -> WebhookSecret:
        return await self._c._post(WebhookSecret, f"/v1/webhooks/{webhook_id}/rotate-secret")

    async def test(self, webhook_id: IdLike) -> WebhookPing:
        """Queue a ``webhook.test`` delivery to the subscription."""
        return await self._c._post(WebhookPing, f"/v1/webhooks/{webhook_id}/test")

    async def deliveries(
        self,
        webhook_id: IdLike,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Delivery]:
        params = _params(status=status, limit=limit, cursor=cursor)
        return await self._c._page(Delivery, f"/v1/webhooks/{webhook_id}/deliveries", params)

    def iter_deliveries(
        self, webhook_id: IdLike, *, status: str | None = None
    ) -> AsyncIterator[Delivery]:
        path = f"/v1/webhooks/{webhook_id}/deliveries"
        return self._c._iter(Delivery, path, _params(status=status))

    async def retry(self, webhook_id: IdLike, delivery_id: IdLike) -> QueuedDelivery:
        """Deliver a failed delivery again now."""
        path = f"/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"
        return await self._c._post(QueuedDelivery, path)


class AsyncGoals(_Area):
    """Care-plan goals of a case."""

    async def create(
        self,
        case_id: IdLike,
        *,
        category: str,
        title: str,
        owner_org_id: IdLike,
        description: str | None = None,
        target_date: DateLike | None = None,
        idempotency_key: str | None = None,
    ) -> Goal:
        body = _body(
            category=category,
            title=title,
            owner_org_id=owner_org_id,
            description=description,
            target_date=target_date,
        )
        path = f"/v1/cases/{case_id}/goals"
        return await self._c._post(Goal, path, body, create=True, idempotency_key=idempotency_key)

    async def get(self, case_id: IdLike, goal_id: IdLike) -> Goal:
        return await self._c._get(Goal, f"/v1/cases/{case_id}/goals/{goal_id}")

    async def list(
        self,
        case_id: IdLike,
        *,
        category: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Goal]:
        params = _params(category=category, status=status, limit=limit, cursor=cursor)
        return await self._c._page(Goal, f"/v1/cases/{case_id}/goals", params)

    def iter(
        self, case_id: IdLike, *, category: str | None = None, status: str | None = None
    ) -> AsyncIterator[Goal]:
        params = _params(category=category, status=status)
        return self._c._iter(Goal, f"/v1/cases/{case_id}/goals", params)

    async def progress(
        self,
        case_id: IdLike,
        goal_id: IdLike,
        *,
        status: str,
        recorded_at: DateTimeLike,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> Goal:
        """Record progress (a status, with an optional note); answers the goal."""
        body = _body(status=status, recorded_at=recorded_at, note=note)
        path = f"/v1/cases/{case_id}/goals/{goal_id}/progress"
        return await self._c._post(Goal, path, body, create=True, idempotency_key=idempotency_key)


class AsyncServices(_Area):
    """Service records of a case's care plan."""

    async def create(
        self,
        case_id: IdLike,
        *,
        service: str,
        category: str,
        type: str,
        status: str,
        provider_org_id: IdLike,
        scheduled_at: DateTimeLike | None = None,
        occurred_at: DateTimeLike | None = None,
        goal_id: IdLike | None = None,
        notes: str | None = None,
        codes: Sequence[CodeIn] | None = None,
        idempotency_key: str | None = None,
    ) -> ServiceRecord:
        body = _body(
            service=service,
            category=category,
            type=type,
            status=status,
            provider_org_id=provider_org_id,
            scheduled_at=scheduled_at,
            occurred_at=occurred_at,
            goal_id=goal_id,
            notes=notes,
            codes=list(codes) if codes is not None else None,
        )
        path = f"/v1/cases/{case_id}/services"
        return await self._c._post(
            ServiceRecord, path, body, create=True, idempotency_key=idempotency_key
        )

    async def get(self, case_id: IdLike, service_id: IdLike) -> ServiceRecord:
        return await self._c._get(ServiceRecord, f"/v1/cases/{case_id}/services/{service_id}")

    async def list(
        self,
        case_id: IdLike,
        *,
        category: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ServiceRecord]:
        params = _params(category=category, status=status, limit=limit, cursor=cursor)
        return await self._c._page(ServiceRecord, f"/v1/cases/{case_id}/services", params)

    def iter(
        self, case_id: IdLike, *, category: str | None = None, status: str | None = None
    ) -> AsyncIterator[ServiceRecord]:
        params = _params(category=category, status=status)
        return self._c._iter(ServiceRecord, f"/v1/cases/{case_id}/services", params)

    async def update(
        self, case_id: IdLike, service_id: IdLike, *, version: int, **changes: Unpack[ServicePatch]
    ) -> ServiceRecord:
        path = f"/v1/cases/{case_id}/services/{service_id}"
        return await self._c._patch(ServiceRecord, path, changes, version)

    async def scheduled(
        self,
        *,
        before: DateTimeLike | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ScheduledService]:
        """Your own services still scheduled before ``before`` (default: 30 days from now),
        across the cases you may see, soonest first."""
        params = _params(before=before, limit=limit, cursor=cursor)
        return await self._c._page(ScheduledService, "/v1/services/scheduled", params)

    def iter_scheduled(
        self, *, before: DateTimeLike | None = None
    ) -> AsyncIterator[ScheduledService]:
        params = _params(before=before)
        return self._c._iter(ScheduledService, "/v1/services/scheduled", params)


class AsyncLegal(_Area):
    """A case's legal record (scopes ``legal:read`` / ``legal:write``) and the testimony pull."""

    async def get(self, case_id: IdLike) -> LegalRecord:
        """The record; before its first write an empty one with ``version`` 0."""
        return await self._c._get(LegalRecord, f"/v1/cases/{case_id}/legal")

    async def replace(
        self,
        case_id: IdLike,
        *,
        version: int,
        documents: Sequence[LegalDocumentIn] | None = None,
        testimony: TestimonyIn | None = None,
        prosecution: ProsecutionIn | None = None,
        immigration_relief: ImmigrationReliefIn | None = None,
    ) -> LegalRecord:
        """``PUT`` the whole record with ``If-Match`` for ``version`` (0 before its first write;
        stale → PreconditionFailed). A part left out is reset to its default, not kept."""
        body = _body(
            documents=list(documents) if documents is not None else None,
            testimony=testimony,
            prosecution=prosecution,
            immigration_relief=immigration_relief,
        )
        return await self._c._put(LegalRecord, f"/v1/cases/{case_id}/legal", body, version)

    async def testimony(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[TestimonyRow]:
        """Testimony preparation of every case you may see in ``legal``."""
        params = _params(status=status, limit=limit, cursor=cursor)
        return await self._c._page(TestimonyRow, "/v1/legal/testimony", params)

    def iter_testimony(self, *, status: str | None = None) -> AsyncIterator[TestimonyRow]:
        return self._c._iter(TestimonyRow, "/v1/legal/testimony", _params(status=status))


class AsyncPlacements(_Area):
    """Placements of a case, the home reviews that vet a family, visits, overdue visits
    (scopes ``placements:read`` / ``placements:write``)."""

    async def create(
        self,
        case_id: IdLike,
        *,
        org_id: IdLike,
        setting: str,
        started_at: DateTimeLike,
        home_review_id: IdLike | None = None,
        idempotency_key: str | None = None,
    ) -> Placement:
        """Start a placement (one active per case: another → Conflict). A ``community_family``
        or ``foster_family`` placement names an approved ``home_review_id`` of this case."""
        body = _body(
            org_id=org_id, setting=setting, started_at=started_at, home_review_id=home_review_id
        )
        path = f"/v1/cases/{case_id}/placements"
        return await self._c._post(
            Placement, path, body, create=True, idempotency_key=idempotency_key
        )

    async def list(
        self, case_id: IdLike, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Placement]:
        """Oldest first."""
        params = _params(limit=limit, cursor=cursor)
        return await self._c._page(Placement, f"/v1/cases/{case_id}/placements", params)

    def iter(self, case_id: IdLike) -> AsyncIterator[Placement]:
        return self._c._iter(Placement, f"/v1/cases/{case_id}/placements", {})

    async def end(
        self,
        case_id: IdLike,
        placement_id: IdLike,
        *,
        ended_at: DateTimeLike,
        exit_reason: str,
        authorization_ref: str | None = None,
    ) -> Placement:
        """A minor's exit other than ``transferred`` needs ``authorization_ref`` (the court's or
        social-welfare authority's decision); an ended placement → Conflict."""
        body = _body(
            ended_at=ended_at, exit_reason=exit_reason, authorization_ref=authorization_ref
        )
        path = f"/v1/cases/{case_id}/placements/{placement_id}/end"
        return await self._c._post(Placement, path, body)

    async def review_home(
        self,
        case_id: IdLike,
        *,
        reviewed_at: DateTimeLike,
        result: str,
        notes: str | None = None,
        idempotency_key: str | None = None,
    ) -> HomeReview:
        """Record a home review (``approved`` / ``rejected``) of a community or foster family."""
        body = _body(reviewed_at=reviewed_at, result=result, notes=notes)
        path = f"/v1/cases/{case_id}/home-reviews"
        return await self._c._post(
            HomeReview, path, body, create=True, idempotency_key=idempotency_key
        )

    async def visit(
        self,
        case_id: IdLike,
        placement_id: IdLike,
        *,
        visited_at: DateTimeLike,
        summary: str,
        idempotency_key: str | None = None,
    ) -> Visit:
        """Record a visit to a community or foster placement."""
        body = _body(visited_at=visited_at, summary=summary)
        path = f"/v1/cases/{case_id}/placements/{placement_id}/visits"
        return await self._c._post(Visit, path, body, create=True, idempotency_key=idempotency_key)

    async def overdue_visits(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OverdueVisit]:
        """Your community and foster placements with no visit in the last 7 days."""
        params = _params(limit=limit, cursor=cursor)
        return await self._c._page(OverdueVisit, "/v1/placements/overdue-visits", params)

    def iter_overdue_visits(self) -> AsyncIterator[OverdueVisit]:
        return self._c._iter(OverdueVisit, "/v1/placements/overdue-visits", {})


class AsyncFollowUps(_Area):
    """Contacts with a survivor after exit (scopes ``cases:read`` / ``cases:write``)."""

    async def schedule(
        self, case_id: IdLike, *, due_on: DateLike, idempotency_key: str | None = None
    ) -> FollowUp:
        path = f"/v1/cases/{case_id}/follow-ups"
        return await self._c._post(
            FollowUp, path, {"due_on": due_on}, create=True, idempotency_key=idempotency_key
        )

    async def record(
        self,
        case_id: IdLike,
        follow_up_id: IdLike,
        *,
        contacted_at: DateTimeLike,
        outcome: str,
    ) -> FollowUp:
        """Record the outcome (``at_risk`` / ``re_exploited`` raise the case's risk level);
        once only: a recorded follow-up → Conflict."""
        body = {"contacted_at": contacted_at, "outcome": outcome}
        path = f"/v1/cases/{case_id}/follow-ups/{follow_up_id}/record"
        return await self._c._post(FollowUp, path, body)

    async def due(
        self,
        *,
        due_before: DateLike | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DueFollowUp]:
        """Your follow-ups due (and overdue) on or before ``due_before`` (default: today)."""
        params = _params(due_before=due_before, limit=limit, cursor=cursor)
        return await self._c._page(DueFollowUp, "/v1/follow-ups", params)

    def iter_due(self, *, due_before: DateLike | None = None) -> AsyncIterator[DueFollowUp]:
        return self._c._iter(DueFollowUp, "/v1/follow-ups", _params(due_before=due_before))


class AsyncReports(_Area):
    """De-identified aggregate reports (scope ``reports:read``)."""

    async def summary(
        self, *, start_month: str | None = None, end_month: str | None = None
    ) -> ReportSummary:
        """Counts of your organisation's own cases, referrals, placements and follow-ups over
        the months ``start_month`` to ``end_month`` (``"YYYY-MM"``; months that have ended;
        default: the last twelve). A count is the lower end of its band (``band_width`` wide: 5
        means 5 to 9); one below the report's ``min_cell_size`` is ``None`` (``suppressed``)."""
        params = _params(start_month=start_month, end_month=end_month)
        return await self._c._get(ReportSummary, "/v1/reports/summary", params)
