"""Helpers for the SMPP tests (a module with a unique name: this test directory has no
__init__.py, so that it does not shadow the ``smsc`` package)."""

import asyncio


class Inbox:
    """A receive handler that collects payloads and lets a test wait for a count."""

    def __init__(self):
        self.items = []
        self._changed = asyncio.Event()

    async def __call__(self, sms):
        self.items.append(sms)
        self._changed.set()

    async def wait(self, n, timeout=10.0):
        async def until():
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.items
