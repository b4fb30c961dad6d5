"""Locust users of the soak (``python -m bench.soak.run`` starts locust with this file).

Environment (set by the runner):

- ``SOAK_PLAN``: the seeded plan (JSON, ``bench/soak/seed.py``): partners, credentials, cases,
  referrals waiting to be answered or withdrawn.
- ``SOAK_RATE_PER_USER``: operations per second per user, as a Poisson process: each user's
  next request is due an exponentially distributed time (mean ``1 / rate``) after its previous
  one was due, whenever that one was answered (:func:`poisson_pacing`), so that the users' sum
  is the arrival stream of many independent clients; ``0`` sends the next request as soon as
  the previous one is answered (closed loop, for the capacity measurement).
- ``SOAK_LATENCIES``: a file to which every request is appended as it completes, one line each:
  ``end time (epoch s) TAB name TAB latency ms TAB status TAB 0/1 (failed) TAB 0/1 (sent on a
  new connection: the user's first request, or the one after a ``Connection: close``)``. These
  exact latencies, not locust's bucketed percentiles, are what the runner reports.
- ``SOAK_ERRORS``: a file for the first failures' details (status and the start of the body).
- ``SOAK_GRAPHQL_URL``: where ``/graphql`` is sent when GraphQL has server processes of its own
  (the runner's ``--graphql-processes``: a load balancer routing the path to another pool);
  empty: to the host, with everything else.
- ``SOAK_GRAPHQL_ALTERNATE``: seconds (a diagnostic, the runner's ``--graphql-alternate``):
  ``/graphql`` goes to the host in even periods of the clock (``time // period``) and to
  ``SOAK_GRAPHQL_URL`` in odd ones, so that both topologies meet the same machine.
- ``SOAK_PACING_ALTERNATE``: seconds (a diagnostic, the runner's ``--pacing-alternate``): in
  even periods of the clock each user sends a request every ``1 / rate`` seconds at a phase of
  its own (what ``constant_throughput`` meant to do), in odd ones as a Poisson process, so
  that both meet the same machine.
- ``SOAK_WITHOUT``: operations of the mix left out, comma-separated (a diagnostic: the runner's
  ``--without``); empty for the soak itself.

Each task sends exactly one request of ``bench/soak/mix.py``'s mix, with the mix's weights.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
from locust import FastHttpUser, TaskSet, constant, events

from bench.soak.mix import OPERATIONS, Answer, Exchange, Mix, next_due, odd_period

_PLAN = os.environ.get("SOAK_PLAN")
EXCHANGE = Exchange(orjson.loads(Path(_PLAN).read_bytes())) if _PLAN else None
RATE = float(os.environ.get("SOAK_RATE_PER_USER", "0"))
_PARTNER_ORDER = itertools.count()
_GRAPHQL_URL = os.environ.get("SOAK_GRAPHQL_URL", "")
_GRAPHQL_ALTERNATE = float(os.environ.get("SOAK_GRAPHQL_ALTERNATE") or 0)
_PACING_ALTERNATE = float(os.environ.get("SOAK_PACING_ALTERNATE") or 0)

_LATENCIES: IO[str] | None = None
_ERRORS: IO[str] | None = None
_ERROR_DETAILS = 100  # at most this many failures described in SOAK_ERRORS
_described = 0
if path := os.environ.get("SOAK_LATENCIES"):
    _LATENCIES = open(path, "a", buffering=1 << 16)  # noqa: SIM115 - open for the process's life
if path := os.environ.get("SOAK_ERRORS"):
    _ERRORS = open(path, "a", buffering=1)  # noqa: SIM115


def _record(
    name: str,
    response_time: float,
    exception: BaseException | None = None,
    response: Any = None,
    context: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    if _LATENCIES is None:
        return
    status = getattr(response, "status_code", 0) or 0
    fresh = int(bool((context or {}).get("fresh")))
    _LATENCIES.write(
        f"{time.time():.3f}\t{name}\t{response_time:.3f}\t{status}\t{int(exception is not None)}"
        f"\t{fresh}\n"
    )


def _close(**kwargs: Any) -> None:
    for handle in (_LATENCIES, _ERRORS):
        if handle is not None:
            handle.flush()


events.request.add_listener(_record)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_close)  # type: ignore[no-untyped-call]


def _describe(name: str, status: int, body: bytes, reason: str) -> None:
    global _described
    if _ERRORS is None or _described >= _ERROR_DETAILS:
        return
    _described += 1
    _ERRORS.write(
        orjson.dumps(
            {"name": name, "status": status, "reason": reason, "body": body[:400].decode("latin-1")}
        ).decode()
        + "\n"
    )


def _graphql_pool_now() -> bool:
    """Whether ``/graphql`` goes to GraphQL's own pool at this moment."""
    if not _GRAPHQL_URL:
        return False
    return not _GRAPHQL_ALTERNATE or odd_period(time.time(), _GRAPHQL_ALTERNATE)


def _task(operation: str) -> Callable[[Any], None]:
    def run(user: Any) -> None:
        user.mix.run(operation)

    run.__name__ = operation.replace("-", "_")
    return run


# Each task is one operation of the mix, listed as often as its weight.
_WITHOUT = set(filter(None, os.environ.get("SOAK_WITHOUT", "").split(",")))
TASKS: list[TaskSet | Callable[..., Any]] = [
    task
    for name, (_, weight) in OPERATIONS.items()
    if name not in _WITHOUT
    for task in [_task(name)] * weight
]


def poisson_pacing(user: Partner) -> float:
    """Seconds until the user's next request: due an exponential gap after the previous one was
    due (an absolute schedule, so that answers' times do not move it), or at once if that is
    past (an answer later than the gap: no catching up in a burst).

    Locust's ``constant_throughput``, used until the thirty-first session, starts each user's
    clock when locust creates the user and counts ``on_start`` (the first token, and the sleep
    to a random point of the period that was meant to spread the users) as the first task's
    time: every user kept the phase of its creation, and locust creates a second's users in
    one loop. The eight users of each second sent their requests together, in the same instant
    of every period: the requests' start times were 1.9-3.5 times as clustered as a Poisson
    stream's (variance over mean of the starts per 5 ms), each group queueing behind itself. A
    task longer than the period moved a user's phase to its end, where others held up with it
    ended too. Here every user's phase is its own, and random gaps keep it so.
    """
    now = time.monotonic()
    if _PACING_ALTERNATE and not odd_period(time.time(), _PACING_ALTERNATE):
        # (--pacing-alternate's even periods: a fixed period after the last task was due, or at
        # once if the task took longer: constant_throughput with each user at its own phase)
        user.due = max(user.due + 1 / RATE, now)
    else:
        user.due = next_due(user.due, now, user.gaps.expovariate(RATE))
    return user.due - now


class Partner(FastHttpUser):
    """One user of one partner (round-robin over the partners: with 40 users, two each), with
    that partner's token."""

    tasks = TASKS
    wait_time = poisson_pacing if RATE > 0 else constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        assert EXCHANGE is not None, "SOAK_PLAN is not set"
        n = next(_PARTNER_ORDER)
        partner = EXCHANGE.partners[EXCHANGE.org_ids[n % len(EXCHANGE.org_ids)]]
        self.mix = Mix(EXCHANGE, partner, self._http, random.Random(n))
        # Per host (the app's, GraphQL's pool's): whether the next request to it opens a
        # connection (the client keeps one per host; a host not met yet: yes).
        self._fresh: dict[str, bool] = {}
        self.mix.headers()  # the partner's first token, before the first task
        self.gaps = random.Random(-1 - n)  # (its own stream: the mix's choices stay as seeded)
        self.due = time.monotonic()
        if RATE > 0:
            # Locust starts `spawn-rate` users at once each second: each user's first request
            # after a random gap of its own (whatever the pacing), and its schedule from then.
            first = self.gaps.expovariate(RATE)
            self.due += first
            time.sleep(first)  # gevent's, as locust patches it

    def _http(
        self,
        method: str,
        path: str,
        *,
        name: str,
        expect: int,
        headers: dict[str, str],
        body: bytes | None = None,
        check: Callable[[Answer], str | None] | None = None,
    ) -> Answer:
        host = ""
        if path == "/graphql" and _graphql_pool_now():
            host = _GRAPHQL_URL
            path = host + path
        with self.client.request(
            method,
            path,
            name=name,
            headers=headers,
            data=body.decode() if body is not None else None,
            catch_response=True,
            context={"fresh": self._fresh.get(host, True)},
        ) as response:
            status = response.status_code or 0
            content = response.content or b""
            answer = Answer(
                status, {k.lower(): v for k, v in (response.headers or {}).items()}, content
            )
            # (a failed request's connection is not kept either)
            self._fresh[host] = (
                not status or answer.headers.get("connection", "").lower() == "close"
            )
            problem = (
                f"expected {expect}, got {status}"
                if status != expect
                else (check(answer) if check else None)
            )
            if problem:
                response.failure(problem)
                _describe(name, status, content, problem)
            else:
                response.success()
            return answer
