"""429 with Retry-After: the SDK waits as told (plus jitter, bounded) and tries again."""

from __future__ import annotations

import asyncio
import time

import pytest
from aftercare_client import AsyncAftercareClient, RateLimited, RetryPolicy

from app.settings import Settings
from tests.factories import Partner
from tests.sdk.conftest import Recorder, async_client


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit": "2/second"})


@pytest.fixture(autouse=True)
async def _away_from_a_window_edge() -> None:
    """Start just after a second begins, so the first requests share one window."""
    await asyncio.sleep(1.02 - time.time() % 1)


async def test_429_is_retried_after_retry_after(recorder: Recorder, lead: Partner) -> None:
    policy = RetryPolicy(max_retries=5, max_wait=5.0, jitter=0.1)
    async with async_client(recorder, lead, retry=policy) as hub:
        for _ in range(4):
            await hub.organizations.me()
    calls = recorder.paths("GET", "/v1/organizations/me")
    assert [c.status for c in calls].count(200) == 4
    limited = [i for i, c in enumerate(calls) if c.status == 429]
    assert limited, "the tiny limit was never hit"
    for i in limited:
        told = float(calls[i].response_headers["retry-after"])
        assert told >= 1
        waited = calls[i + 1].at - calls[i].at
        assert told <= waited <= told * 1.1 + 0.5  # as told, plus at most 10 % jitter


async def spend(hub: AsyncAftercareClient, calls: int) -> None:
    for _ in range(calls):
        await hub.organizations.me()


async def test_retries_are_bounded(recorder: Recorder, lead: Partner) -> None:
    policy = RetryPolicy(max_retries=0)
    async with async_client(recorder, lead, retry=policy) as hub:
        with pytest.raises(RateLimited) as refused:
            await spend(hub, 5)
    assert (refused.value.status, refused.value.code) == (429, "rate_limited")
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1


async def test_a_retry_after_beyond_max_wait_is_not_waited_for(
    recorder: Recorder, lead: Partner
) -> None:
    policy = RetryPolicy(max_retries=5, max_wait=0.5)
    async with async_client(recorder, lead, retry=policy) as hub:
        started = time.monotonic()
        with pytest.raises(RateLimited):
            await spend(hub, 5)
        assert time.monotonic() - started < 1
