"""The one injectable clock of the server side: routing, its request queue, queue-mode
presence and the server core's registration lifetimes all read time and wait through it.

A :class:`Clock` gives two readings and one timer:

* :meth:`~Clock.now`: monotonic seconds, for durations that live in memory (the queue-mode
  online window, wake-up retries, the US fallback timeout). It never jumps when the system
  clock is set.
* :meth:`~Clock.wall`: Unix seconds, for stamps that are stored and must mean the same after
  a restart (a registration's last Update, a queued request's time limit).
* :meth:`~Clock.sleep`: every timer that waits goes through it, so that a fake clock drives
  them all.

:data:`SYSTEM_CLOCK` is the real one (``time.monotonic``, ``time.time``, ``asyncio.sleep``).
:class:`FakeClock` moves only when told to (:meth:`FakeClock.advance`): tests of queue
windows, time limits and retries run in no real time and assert behaviour, never a
wall-clock figure. :func:`wait_for` is :func:`asyncio.wait_for` on a clock's time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Awaitable, Protocol, TypeVar

__all__ = ["Clock", "SystemClock", "SYSTEM_CLOCK", "FakeClock", "wait_for"]

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds (any origin): for windows and timers."""
        ...

    def wall(self) -> float:
        """Unix seconds: for stamps that outlive the process."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """An awaitable done after ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SYSTEM_CLOCK"


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock for tests: time stands still until :meth:`advance` moves it.

    ``wall()`` is ``now()`` plus a fixed offset (``wall_start - start``), so both readings
    move together. Sleepers wake in deadline order; :meth:`advance` stops at each deadline
    on its way and lets the woken task run before it goes on, so that a timer loop
    (sleep, work, sleep again) fires once per period of the advanced span, as in real time.
    A task that re-arms its timer only after awaiting I/O (a network round trip) is not
    waited for: a test waits for that I/O's outcome, then :meth:`sleeping` for the timer,
    then advances again.
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._seq = itertools.count()
        # (deadline, sequence, duration asked for, future); cancelled entries are skipped
        self._timers: list[tuple[float, int, float, asyncio.Future[None]]] = []
        self._armed: list[asyncio.Future[None]] = []  # waiters in sleeping()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def sleep(self, seconds: float) -> Awaitable[None]:
        # The timer is armed at the call, not when the caller's task next runs: its deadline
        # is counted from the time the caller saw.
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            fut.set_result(None)
            return fut
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), seconds, fut))
        for waiter in self._armed:
            if not waiter.done():
                waiter.set_result(None)
        self._armed.clear()
        return fut

    def timers(self) -> list[tuple[float, float]]:
        """Pending sleeps as (deadline, seconds asked for), soonest first."""
        return sorted((d, s) for d, _, s, f in self._timers if not f.done())

    async def sleeping(self, seconds: float, timeout: float = 10.0) -> None:
        """Wait until some task sleeps for exactly ``seconds`` (e.g. a retry period), so a
        following :meth:`advance` cannot run before that timer is armed. ``timeout`` is in
        real seconds: a safety net that fails the test instead of hanging it."""

        async def armed() -> None:
            while not any(s == seconds for _, s in self.timers()):
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._armed.append(waiter)
                await waiter

        await asyncio.wait_for(armed(), timeout)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper whose deadline is passed,
        in deadline order, each at its own deadline."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            deadline, _, _, fut = heapq.heappop(self._timers)
            if fut.done():  # the sleeper was cancelled
                continue
            self._now = max(self._now, deadline)
            fut.set_result(None)
            # One loop turn: the woken task runs up to its next await (set_result queued
            # its step before ours). This is the clock's own stepping, not a guess at how
            # long something takes.
            await asyncio.sleep(0)
        self._now = target


async def wait_for(clock: Clock, aw: Awaitable[T], timeout: float) -> T:
    """:func:`asyncio.wait_for` measured on ``clock``: ``aw`` is cancelled and
    :class:`TimeoutError` raised once ``timeout`` of the clock's seconds pass first."""
    task = asyncio.ensure_future(aw)
    timer = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        timer.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise TimeoutError(f"no result within {timeout} s")
