"""Locust users of the soak (``python -m bench.soak.run`` starts locust with this file).

Environment (set by the runner):

- ``SOAK_PLAN``: the seeded plan (JSON, ``bench/soak/seed.py``): partners, credentials, cases,
  referrals waiting to be answered or withdrawn.
- ``SOAK_RATE_PER_USER``: operations per second per user (locust's ``constant_throughput``,
  each user starting at a random point of its period, so that arrivals are spread, not bursts);
  ``0`` sends the next request as soon as the previous one is answered (closed loop, for the
  capacity measurement).
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
from locust import FastHttpUser, TaskSet, constant, constant_throughput, events

from bench.soak.mix import OPERATIONS, Answer, Exchange, Mix, graphql_pool_period

_PLAN = os.environ.get("SOAK_PLAN")
EXCHANGE = Exchange(orjson.loads(Path(_PLAN).read_bytes())) if _PLAN else None
RATE = float(os.environ.get("SOAK_RATE_PER_USER", "0"))
_PARTNER_ORDER = itertools.count()
_GRAPHQL_URL = os.environ.get("SOAK_GRAPHQL_URL", "")
_GRAPHQL_ALTERNATE = float(os.environ.get("SOAK_GRAPHQL_ALTERNATE") or 0)

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
    return not _GRAPHQL_ALTERNATE or graphql_pool_period(time.time(), _GRAPHQL_ALTERNATE)


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


class Partner(FastHttpUser):
    """One user of one partner (round-robin over the partners: with 40 users, two each), with
    that partner's token."""

    tasks = TASKS
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)
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
        if RATE > 0:
            # Each user at its own point of the period. Locust starts `spawn-rate` users at
            # once each second, and `constant_throughput` keeps every user at its first phase:
            # with a period dividing a second, all of them fired in the same instant, and the
            # soak measured the bursts it made (at 79 requests/s, 40 requests at once every
            # 0.5 s: p50 145 ms on an app 46 % busy).
            time.sleep(random.uniform(0, 1 / RATE))  # gevent's, as locust patches it

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
