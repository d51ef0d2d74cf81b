"""A process a test starts, waits for, and kills with SIGKILL (the kill -9 tests)."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["ChildProcess"]


class ChildProcess:
    """``argv`` run with the repository on PYTHONPATH, its stderr with its stdout. start()
    returns once a line of its output starts with ``ready`` (the process's own word that it
    is up: the event to wait for); every line is kept in :attr:`lines`."""

    def __init__(self, argv: Sequence[str], *, ready: str, timeout: float = 60.0) -> None:
        self.argv = list(argv)
        self.ready = ready
        self.timeout = timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.lines = []
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env)
        assert self.proc.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), self.timeout)).decode()
            self.lines.append(line)
            assert line, f"{self.argv[1:3]} exited before it was ready:\n" + "".join(self.lines)
            if line.startswith(self.ready):
                break
        # keep reading: a pipe nobody empties stops the child once it is full
        self._drain = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(line.decode())

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL
        if self._drain is not None:
            await self._drain

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill9()
