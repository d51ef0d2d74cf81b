"""Waiting for a condition without sleeping: the event loop the tests run on, and :func:`until`.

Tests wait on the event itself where the code offers one (a future, an inbox, a bearer's
receiver, ``wait_bound``). Where the thing to wait for is a state (a counter reaching a
value, a list of binds emptying), they use :func:`until`, never a sleep-and-look loop.

Why it is exact: in asyncio every state change happens inside a callback or a task step on
the loop's thread, so a condition over in-process state can only become true after a loop
iteration ran something. :class:`WatchingLoop` evaluates the pending conditions once per
iteration, just before the loop blocks for I/O or timers; :func:`until` returns at the first
iteration after which its predicate holds. It wakes for nothing else and costs nothing while
the loop is idle: a condition variable notified by every state change, without a notifier
in each producer. ``timeout`` (real seconds) is only the safety net that turns a hang into
a failure naming what was awaited. As with any condition variable, a state that comes and
goes within one iteration is not seen: wait for something that stays (a count, a result).

tests/conftest.py hands :class:`WatchingLoop` to pytest-asyncio (its
``pytest_asyncio_loop_factories`` hook), so every async test and fixture runs on it.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Callable, Optional

__all__ = ["WatchingLoop", "until", "Inbox"]

Condition = tuple[Callable[[], object], "asyncio.Future[None]"]


class _WatchingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self) -> None:
        super().__init__()
        self.conditions: list[Condition] = []

    def select(self, timeout: Optional[float] = None):  # type: ignore[no-untyped-def]
        if self.conditions and self._settle():
            timeout = 0  # a waiter was woken: its task must run now, not after the next I/O
        return super().select(timeout)

    def _settle(self) -> bool:
        woke = False
        for cond in list(self.conditions):
            predicate, fut = cond
            if fut.done():  # the waiter timed out or was cancelled
                self.conditions.remove(cond)
                continue
            try:
                met = bool(predicate())
            except Exception as exc:  # a broken predicate fails its waiter, not the loop
                fut.set_exception(exc)
                met = True
            else:
                if met:
                    fut.set_result(None)
            if met:
                self.conditions.remove(cond)
                woke = True
        return woke


class WatchingLoop(asyncio.SelectorEventLoop):
    """A selector event loop that evaluates :func:`until` conditions once per iteration."""

    def __init__(self) -> None:
        self.watch = _WatchingSelector()
        super().__init__(self.watch)


async def until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Return once ``predicate()`` is true (checked now, then after each loop iteration);
    fail with AssertionError naming ``what`` if ``timeout`` real seconds pass first."""
    if predicate():
        return
    loop = asyncio.get_running_loop()
    if not isinstance(loop, WatchingLoop):
        raise RuntimeError("until() needs the WatchingLoop (tests/conftest.py installs it)")
    fut: asyncio.Future[None] = loop.create_future()
    loop.watch.conditions.append((predicate, fut))
    try:
        await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what or predicate}") from None


class Inbox:
    """A receive handler (bearer payloads or segments) that keeps what it gets, in order;
    :meth:`wait` returns the list once it holds ``n``."""

    def __init__(self) -> None:
        self.items: list = []

    async def __call__(self, item: object) -> None:
        self.items.append(item)

    async def wait(self, n: int, timeout: float = 20.0) -> list:
        await until(lambda: len(self.items) >= n, timeout, f"{n} received (have {len(self.items)})")
        return self.items
