"""The pool's connection slots: who gets a connection when every one is out.

A session takes a slot before it takes a connection from the asyncpg pool and gives it back
after returning the connection (``app/db/database.py``), so the waiting happens here, by a rule
we chose, and not in the pool (which waits only while a cancelled session's connection is still
on its way back to it).

Not asyncpg's own wait: its pool queues acquirers in an ``asyncio.Queue``, where a returned
connection goes to whoever asks next, and the waiter it woke, finding it gone, queues again at
the end. With more requests in flight than connections (``GET /v1/organizations/me`` from 32
connections on a pool of 10) the p99 was 0.2 to 1.6 s behind a 10 ms median (bench/README,
thirteenth session). Nor strictly first come first served (``asyncio.Semaphore``): a slot
handed to a waiter stays unused until that waiter's task runs again, while a request already
running would have used it at once; under the same load that cost a fifth of the throughput
and doubled the median.

So the rule of Go's ``sync.Mutex``: a free slot goes to whoever asks while it is free (a
request already running: the connection is not left idle), a waiter woken for a slot that a
newcomer took keeps its place at the head of the queue, and once the head has waited
``starve_after`` seconds the slots are handed to the waiters in order (newcomers queue behind
them) until the head of the queue is younger than that. Under that load: the throughput of
asyncpg's queue, a p99 of 48 to 58 ms. With 20 ms instead of 50 the p99 was 30 ms but the
median doubled (most waiters crossed it, and the handovers left connections idle).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

STARVE_AFTER_SECONDS = 0.05


class _Waiter:
    __slots__ = ("future", "since")

    def __init__(self, future: asyncio.Future[bool], since: float) -> None:
        self.future = future  # True: a slot was handed over; False: woken to try for a free one
        self.since = since


class Slots:
    def __init__(self, size: int, *, starve_after: float = STARVE_AFTER_SECONDS) -> None:
        self._free = size
        self._waiters: deque[_Waiter] = deque()
        self.starve_after = starve_after

    @property
    def free(self) -> int:
        return self._free

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _starving(self, now: float) -> bool:
        return bool(self._waiters) and now - self._waiters[0].since >= self.starve_after

    def try_take(self) -> bool:
        """A slot at once, if one is free and nobody has waited ``starve_after``."""
        if self._free > 0 and not self._starving(asyncio.get_running_loop().time()):
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        """One slot, in turn (the caller bounds the wait: ``asyncio.timeout``)."""
        if self.try_take():
            return
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), loop.time())
        self._waiters.append(waiter)
        try:
            while True:
                if await waiter.future:
                    return  # handed over (and already out of the queue)
                if self._free > 0:
                    self._free -= 1
                    self._waiters.remove(waiter)
                    self._wake_head()  # more slots free: the next one may try too
                    return
                # A newcomer took it: wait again, keeping this place in the queue.
                waiter.future = loop.create_future()
        except BaseException:
            self._abandon(waiter)
            raise

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter timed out or was cancelled: it leaves the queue, and a slot handed to it
        goes on to the next (as does a free slot it was woken for)."""
        future = waiter.future
        if future.done() and not future.cancelled() and future.result():
            self.give()  # handed over just as it gave up: out of the queue already
            return
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        self._wake_head()

    def give(self) -> None:
        """Give a slot back: handed to the head of the queue if it has waited ``starve_after``
        (and is not already woken for a free one), else free for whoever asks next, the head
        woken to try."""
        if self._waiters:
            head = self._waiters[0]
            now = asyncio.get_running_loop().time()
            if not head.future.done() and now - head.since >= self.starve_after:
                self._waiters.popleft()
                head.future.set_result(True)
                return
        self._free += 1
        self._wake_head()

    def _wake_head(self) -> None:
        if self._free > 0 and self._waiters:
            head = self._waiters[0]
            if not head.future.done():
                head.future.set_result(False)
