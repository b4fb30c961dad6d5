"""The process-memory rate-limit counters (``app.api.rate_limits.LocalCounters``) against the
``limits`` library's own sliding-window counter over its ``MemoryStorage``: the same hits at the
same moments must give the same answers (allowed or not, remaining, reset time), so a process
without Redis limits exactly as replicas sharing Redis do."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.api.rate_limits import LocalCounters

START = 1_800_000_000.0  # a whole minute: windows start at multiples of their length

Step = tuple[float, Literal["hit", "test", "stats"], str, int]

steps = st.lists(
    st.tuples(
        # Eighths of a second: no float rounding at a window's edge in either implementation.
        st.integers(0, 8 * 150).map(lambda eighths: eighths / 8),
        st.sampled_from(["hit", "hit", "hit", "test", "stats"]),
        st.sampled_from(["a", "b"]),
        st.integers(1, 3),
    ),
    max_size=60,
)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@settings(max_examples=150, deadline=None)
@given(limit=st.sampled_from(["5/minute", "3/second", "7/10 seconds", "1/minute"]), plan=steps)
def test_local_counters_answer_as_limits_memory_storage_does(limit: str, plan: list[Step]) -> None:
    clock = Clock()
    item = parse(limit)

    async def replay() -> None:
        theirs = SlidingWindowCounterRateLimiter(MemoryStorage())
        ours = LocalCounters(clock=clock)
        for advance, op, key, cost in plan:
            clock.now += advance
            if op == "hit":
                assert await ours.hit(item, "client", key, cost=cost) == await theirs.hit(
                    item, "client", key, cost=cost
                )
            elif op == "test":
                assert await ours.test(item, "client", key, cost=cost) == await theirs.test(
                    item, "client", key, cost=cost
                )
            else:
                mine = await ours.get_window_stats(item, "client", key)
                expected = await theirs.get_window_stats(item, "client", key)
                assert mine.remaining == expected.remaining
                assert mine.reset_time == pytest.approx(expected.reset_time, abs=1e-6)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", clock)  # the library reads time.time() wherever it needs it
        asyncio.run(replay())


async def test_windows_that_no_longer_weigh_are_forgotten() -> None:
    clock = Clock()
    counters = LocalCounters(clock=clock)
    item = parse("10/minute")
    for n in range(100):  # a hundred addresses, one failed attempt each
        assert await counters.hit(item, "auth-address", f"192.0.2.{n}")
    clock.now += 60
    assert await counters.hit(item, "auth-address", "192.0.2.1")  # the previous window weighs
    assert len(counters._windows) == 100
    clock.now += 120  # two windows on: nothing left weighs
    assert (await counters.get_window_stats(item, "auth-address", "192.0.2.7")).remaining == 10
    assert len(counters._windows) == 0


async def test_reading_a_key_never_hit_stores_nothing() -> None:
    counters = LocalCounters(clock=Clock())
    item = parse("10/minute")
    assert await counters.test(item, "auth-address", "198.51.100.1")
    assert (await counters.get_window_stats(item, "auth-address", "198.51.100.2")).remaining == 10
    assert counters._windows == {}


async def test_a_cost_over_the_limit_is_refused_and_spends_nothing() -> None:
    counters = LocalCounters(clock=Clock())
    item = parse("2/minute")
    assert not await counters.hit(item, "client", "c", cost=3)
    stats = await counters.get_window_stats(item, "client", "c")
    assert stats.remaining == 2
