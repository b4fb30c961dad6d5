"""The pool's connection slots (``app.db.slots``): a free slot goes to whoever asks, a waiter
keeps its place at the head, and one that has waited ``starve_after`` is handed the next slot
before any newcomer; timeouts and cancellations never lose or duplicate a slot."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.db.slots import Slots


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_free_slot_is_taken_at_once_and_given_back() -> None:
    slots = Slots(2)
    assert slots.try_take() and slots.try_take()
    assert not slots.try_take()
    slots.give()
    assert slots.free == 1
    await slots.take()
    assert slots.free == 0


async def test_a_newcomer_may_take_a_slot_a_young_waiter_was_woken_for() -> None:
    slots = Slots(1, starve_after=60)
    assert slots.try_take()
    waiter = asyncio.create_task(slots.take())
    await _settle()
    assert slots.waiting == 1
    slots.give()  # the waiter is woken, but has not run yet
    assert slots.try_take()  # a request already running uses the connection at once
    await _settle()
    assert not waiter.done() and slots.waiting == 1  # it waits again, still at the head
    slots.give()
    await _settle()
    assert waiter.done() and slots.waiting == 0 and slots.free == 0


async def test_a_waiter_that_has_waited_starve_after_is_handed_the_next_slot() -> None:
    slots = Slots(1, starve_after=0.01)
    assert slots.try_take()
    first = asyncio.create_task(slots.take())
    await asyncio.sleep(0.02)
    second = asyncio.create_task(slots.take())
    await _settle()
    slots.give()  # the head is old: handed over, no newcomer may take it
    assert not slots.try_take()
    await _settle()
    assert first.done() and not second.done()
    slots.give()
    await _settle()
    assert second.done() and slots.free == 0


async def test_a_stream_of_newcomers_cannot_keep_a_waiter_waiting() -> None:
    """Requests keep arriving and taking the slot as it frees; the one that queued first gets
    it once it has waited starve_after, not a second later."""
    slots = Slots(1, starve_after=0.02)
    stop = asyncio.Event()

    async def newcomers() -> None:
        while not stop.is_set():
            if slots.try_take():
                await asyncio.sleep(0.002)
                slots.give()
            await asyncio.sleep(0)

    crowd = [asyncio.create_task(newcomers()) for _ in range(4)]
    await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(slots.take(), 1.0)
    waited = loop.time() - began
    slots.give()
    stop.set()
    await asyncio.gather(*crowd)
    assert waited < 0.1
    assert slots.free == 1 and slots.waiting == 0


async def test_a_waiter_that_gives_up_leaves_the_queue_and_loses_no_slot() -> None:
    slots = Slots(1)
    assert slots.try_take()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await slots.take()
    assert slots.waiting == 0
    slots.give()
    assert slots.free == 1


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_goes_to_the_next() -> None:
    slots = Slots(1, starve_after=0)
    assert slots.try_take()
    first = asyncio.create_task(slots.take())
    second = asyncio.create_task(slots.take())
    await _settle()
    slots.give()  # handed to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    await _settle()
    assert first.cancelled()
    assert second.done() and slots.free == 0
    slots.give()
    assert slots.free == 1 and slots.waiting == 0


@pytest.mark.parametrize("seed", range(5))
async def test_under_random_cancellations_every_slot_comes_back(seed: int) -> None:
    rng = random.Random(seed)
    slots = Slots(3, starve_after=rng.choice([0, 0.002, 60]))
    held = 0
    most = 0

    async def request() -> None:
        nonlocal held, most
        try:
            async with asyncio.timeout(rng.uniform(0.001, 0.02)):
                await slots.take()
        except TimeoutError:
            return
        held += 1
        most = max(most, held)
        try:
            await asyncio.sleep(rng.uniform(0, 0.004))
        finally:
            held -= 1
            slots.give()

    tasks = [asyncio.create_task(request()) for _ in range(200)]
    for task in tasks:
        if rng.random() < 0.2:
            await asyncio.sleep(rng.uniform(0, 0.002))
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert most <= 3
    assert slots.free == 3 and slots.waiting == 0
