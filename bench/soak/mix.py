"""The soak's mix of operations, independent of the load tool.

Each operation is exactly one request (a token refresh, when one is due, comes before it as a
request of its own, named ``token``). ``Exchange`` is what every simulated user of the one load
process shares: per partner its token, the cases it leads (with their ETags) and the referrals
waiting for it (to answer as the receiver, to withdraw as the sender). A referral is taken off
those lists before the request that moves it is sent, so no two users ever act on the same one
and every transition is valid: the load expects no 4xx at all, and counts any as an error.

Expected answers (anything else is an error): 200 for reads, ``case-patch``, the transitions and
GraphQL (whose body must also hold no ``errors``); 201 for ``update``, ``goal`` and
``referral-create``; 200 for ``token``.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson

# The operations, their class (for the budgets) and their weight in the mix (out of 100).
READ_SINGLE = "read-single"
READ_LIST = "read-list"
WRITE = "write"
GRAPHQL = "graphql"
OPERATIONS: dict[str, tuple[str, int]] = {
    "case": (READ_SINGLE, 25),
    "care-plan": (READ_SINGLE, 15),
    "inbox": (READ_LIST, 15),
    "events": (READ_LIST, 15),
    "update": (WRITE, 5),
    "goal": (WRITE, 3),
    "case-patch": (WRITE, 2),
    "referral-create": (WRITE, 4),
    "referral-transition": (WRITE, 6),  # reported as referral-accept/-decline/-withdraw
    "graphql": (GRAPHQL, 10),
}
# Names requests are recorded under, with their class.
REQUEST_CLASS: dict[str, str] = {
    **{name: cls for name, (cls, _) in OPERATIONS.items() if name != "referral-transition"},
    "referral-accept": WRITE,
    "referral-decline": WRITE,
    "referral-withdraw": WRITE,
    "token": "auth",
}
SHARED = ["demographics", "general", "medical"]
REFERRAL_SERVICES = ("counseling", "medical", "legal")
GRAPHQL_QUERY = """
query SoakCases {
  cases(first: 20) {
    edges { node {
      id reference role visibleCategories ageBand
      referrals(first: 10) { edges { node { id status service } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def odd_period(t: float, period: float) -> bool:
    """Whether ``t`` falls in an odd period of the clock: the diagnostics that alternate two
    setups in one run (``--graphql-alternate``: ``/graphql`` to GraphQL's pool in odd periods,
    to the app processes in even ones; ``--pacing-alternate``: Poisson pacing in odd ones,
    constant throughput in even ones). The locustfile switches by it and the runner splits the
    latencies by it."""
    return int(t // period) % 2 == 1


def next_due(due: float, now: float, gap: float) -> float:
    """When a soak user's next request is due: ``gap`` (exponential, drawn by the caller) after
    the previous one was due, on an absolute schedule that answers' times do not move, or at
    once (``now``) if that is past, without catching up in a burst."""
    return max(due + gap, now)


# A token is renewed once less than this share of its lifetime is left: drawn per partner from
# this range, so the 20 partners do not all renew in the same second.
REFRESH_FRACTION = (0.1, 0.4)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class Http(Protocol):
    """One request; ``expect`` is the status that counts as success (the load tool records
    anything else as a failure under ``name``)."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        name: str,
        expect: int,
        headers: dict[str, str],
        body: bytes | None = None,
        check: Callable[[Answer], str | None] | None = None,
    ) -> Answer: ...


@dataclass
class Partner:
    org_id: str
    client_id: str
    client_secret: str
    cases: list[str]
    etags: dict[str, str]
    busy: set[str] = field(default_factory=set)  # cases with a PATCH in flight
    pending_in: dict[str, None] = field(default_factory=dict)  # ordered set
    pending_out: dict[str, str] = field(default_factory=dict)  # referral -> receiver
    accepted_out: dict[str, None] = field(default_factory=dict)
    token: str | None = None
    token_expires: float = 0.0
    token_lifetime: float = 0.0
    refreshing: bool = False
    refresh_fraction: float = 0.25
    feed_cursor: str | None = None


def _first(ordered: dict[str, Any]) -> str | None:
    return next(iter(ordered), None)


class Exchange:
    """The partners and their referrals, shared by every user of one load process."""

    def __init__(self, plan: dict[str, Any], rng: random.Random | None = None) -> None:
        rng = rng or random.Random(14)
        self.partners = {
            p["org_id"]: Partner(
                p["org_id"],
                p["client_id"],
                p["client_secret"],
                list(p["cases"]),
                dict(p["cases"]),
                refresh_fraction=rng.uniform(*REFRESH_FRACTION),
            )
            for p in plan["partners"]
        }
        self.senders: dict[str, str] = {}  # referral -> sender
        for p in plan["partners"]:
            partner = self.partners[p["org_id"]]
            for rid in p["pending_in"]:
                sender = plan["referrals"][rid][0]
                partner.pending_in[rid] = None
                self.partners[sender].pending_out[rid] = partner.org_id
                self.senders[rid] = sender
            for rid in p["accepted_out"]:
                partner.accepted_out[rid] = None
        self.org_ids = list(self.partners)


def _now_iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def _graphql_errors(answer: Answer) -> str | None:
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return "not JSON"
    if data.get("errors"):
        return f"GraphQL errors: {data['errors']!r}"[:300]
    return None


class Mix:
    """One simulated user of one partner: ``run(operation)`` sends one request of the mix."""

    def __init__(
        self, exchange: Exchange, partner: Partner, http: Http, rng: random.Random | None = None
    ) -> None:
        self.exchange = exchange
        self.partner = partner
        self.http = http
        self.rng = rng or random.Random()

    # -- the token ------------------------------------------------------------------------------
    def headers(self, **extra: str) -> dict[str, str]:
        """The partner's bearer token (and ``extra``): one user gets it, the partner's other
        users wait for that one (under locust, ``time.sleep`` yields to the other users)."""
        p = self.partner
        while p.token is None and p.refreshing:
            time.sleep(0.02)
        now = time.monotonic()
        due = p.token is None or now >= p.token_expires - 5
        left = p.token_expires - now
        renew = left < p.refresh_fraction * p.token_lifetime and not p.refreshing
        if due or renew:
            p.refreshing = True
            try:
                answer = self.http(
                    "POST",
                    "/oauth/token",
                    name="token",
                    expect=200,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Authorization": "Basic "
                        + base64.b64encode(f"{p.client_id}:{p.client_secret}".encode()).decode(),
                    },
                    body=b"grant_type=client_credentials",
                )
                if answer.status == 200:
                    data = orjson.loads(answer.body)
                    p.token = data["access_token"]
                    p.token_lifetime = float(data["expires_in"])
                    p.token_expires = now + p.token_lifetime
            finally:
                p.refreshing = False
        return {"Authorization": f"Bearer {p.token}", **extra}

    def _case(self) -> str:
        return self.rng.choice(self.partner.cases)

    # -- the operations -------------------------------------------------------------------------
    def run(self, operation: str) -> Answer:
        handler: Callable[[], Answer] = getattr(self, "op_" + operation.replace("-", "_"))
        return handler()

    def op_case(self) -> Answer:
        return self.http(
            "GET", f"/v1/cases/{self._case()}", name="case", expect=200, headers=self.headers()
        )

    def op_care_plan(self) -> Answer:
        return self.http(
            "GET",
            f"/v1/cases/{self._case()}/care-plan",
            name="care-plan",
            expect=200,
            headers=self.headers(),
        )

    def op_inbox(self) -> Answer:
        return self.http(
            "GET",
            "/v1/referrals?direction=incoming&limit=50",
            name="inbox",
            expect=200,
            headers=self.headers(),
        )

    def op_events(self) -> Answer:
        p = self.partner
        query = f"&after={p.feed_cursor}" if p.feed_cursor else ""
        answer = self.http(
            "GET", f"/v1/events?limit=50{query}", name="events", expect=200, headers=self.headers()
        )
        if answer.status == 200:
            cursor = orjson.loads(answer.body).get("next_cursor")
            if cursor:
                p.feed_cursor = cursor
        return answer

    def op_update(self) -> Answer:
        category = self.rng.choice(("general", "medical"))
        return self.http(
            "POST",
            f"/v1/cases/{self._case()}/updates",
            name="update",
            expect=201,
            headers=self.headers(
                **{"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
            ),
            body=_json(
                {
                    "kind": "service_delivered" if category == "medical" else "note",
                    "category": category,
                    "occurred_at": _now_iso(-timedelta(minutes=5)),
                    "summary": "Weekly check-in held; plan unchanged",
                    "details": {"duration_minutes": 30},
                }
            ),
        )

    def op_goal(self) -> Answer:
        return self.http(
            "POST",
            f"/v1/cases/{self._case()}/goals",
            name="goal",
            expect=201,
            headers=self.headers(
                **{"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
            ),
            body=_json(
                {
                    "category": self.rng.choice(("general", "medical", "counseling")),
                    "title": "Attend the next group session",
                    "owner_org_id": self.partner.org_id,
                }
            ),
        )

    def op_case_patch(self) -> Answer:
        p = self.partner
        free = [c for c in self.rng.sample(p.cases, min(5, len(p.cases))) if c not in p.busy]
        if not free:  # every sampled case has a PATCH in flight: read one instead
            return self.op_case()
        case_id = free[0]
        p.busy.add(case_id)
        try:
            answer = self.http(
                "PATCH",
                f"/v1/cases/{case_id}",
                name="case-patch",
                expect=200,
                headers=self.headers(
                    **{"Content-Type": "application/json", "If-Match": p.etags[case_id]}
                ),
                body=_json({"risk_level": self.rng.choice(("medium", "high", "critical"))}),
            )
            if answer.status == 200 and "etag" in answer.headers:
                p.etags[case_id] = answer.headers["etag"]
            return answer
        finally:
            p.busy.discard(case_id)

    def op_referral_create(self) -> Answer:
        p = self.partner
        to = self.rng.choice([o for o in self.exchange.org_ids if o != p.org_id])
        answer = self.http(
            "POST",
            "/v1/referrals",
            name="referral-create",
            expect=201,
            headers=self.headers(
                **{"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
            ),
            body=_json(
                {
                    "case_id": self._case(),
                    "to_org_id": to,
                    "service": self.rng.choice(REFERRAL_SERVICES),
                    "urgency": "routine",
                    "reason": "Follow-up care agreed with the survivor",
                    "shared_categories": SHARED,
                    "respond_by": _now_iso(timedelta(days=30)),
                }
            ),
        )
        if answer.status == 201:
            rid = orjson.loads(answer.body)["id"]
            self.exchange.senders[rid] = p.org_id
            p.pending_out[rid] = to
            self.exchange.partners[to].pending_in[rid] = None
        return answer

    def op_referral_transition(self) -> Answer:
        """Withdraw one of this partner's accepted referrals (ending the receiver's care), or
        answer one waiting in its inbox (accept or decline), or withdraw one of its own pending
        ones; with none of those, send a referral instead."""
        p = self.partner
        withdraw_accepted = _first(p.accepted_out)
        if withdraw_accepted and (self.rng.random() < 0.5 or not p.pending_in):
            del p.accepted_out[withdraw_accepted]
            return self._withdraw(withdraw_accepted)
        incoming = _first(p.pending_in)
        if incoming:
            del p.pending_in[incoming]
            sender = self.exchange.partners[self.exchange.senders[incoming]]
            sender.pending_out.pop(incoming, None)
            if self.rng.random() < 0.5:
                answer = self.http(
                    "POST",
                    f"/v1/referrals/{incoming}/accept",
                    name="referral-accept",
                    expect=200,
                    headers=self.headers(),
                )
                if answer.status == 200:
                    sender.accepted_out[incoming] = None
                return answer
            return self.http(
                "POST",
                f"/v1/referrals/{incoming}/decline",
                name="referral-decline",
                expect=200,
                headers=self.headers(**{"Content-Type": "application/json"}),
                body=_json({"reason": "No counsellor free this month", "reason_code": "other"}),
            )
        outgoing = _first(p.pending_out)
        if outgoing:
            receiver = p.pending_out.pop(outgoing)
            self.exchange.partners[receiver].pending_in.pop(outgoing, None)
            return self._withdraw(outgoing)
        return self.op_referral_create()

    def _withdraw(self, referral_id: str) -> Answer:
        return self.http(
            "POST",
            f"/v1/referrals/{referral_id}/withdraw",
            name="referral-withdraw",
            expect=200,
            headers=self.headers(**{"Content-Type": "application/json"}),
            body=_json({"reason": "The survivor moved to another province"}),
        )

    def op_graphql(self) -> Answer:
        return self.http(
            "POST",
            "/graphql",
            name="graphql",
            expect=200,
            headers=self.headers(**{"Content-Type": "application/json"}),
            body=_json({"query": GRAPHQL_QUERY}),
            check=_graphql_errors,
        )
