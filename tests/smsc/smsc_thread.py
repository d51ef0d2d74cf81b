"""A simulated SMSC on its own event loop in a thread, so plain blocking sockets and sync
(hypothesis) tests can talk to it. One place for the fixtures of several test files."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Iterator

from smsc.config import SmscConfig
from smsc.server import SimulatedSmsc


@contextlib.contextmanager
def smsc_in_thread(config: SmscConfig) -> Iterator[SimulatedSmsc]:
    loop = asyncio.new_event_loop()
    smsc = SimulatedSmsc(config)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(smsc.start("127.0.0.1", 0))
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(10), "the SMSC thread did not start"
    try:
        yield smsc
    finally:
        asyncio.run_coroutine_threadsafe(smsc.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        t.join(10)
        loop.close()
