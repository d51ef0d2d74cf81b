"""Stopping background tasks at close."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

__all__ = ["cancel_and_wait"]

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: "Iterable[asyncio.Task[Any]]") -> None:
    """Cancel every task, then wait until each has ended. A task that had failed before
    is logged, not raised: a close must finish whatever its tasks did."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.warning("task %s had failed", task.get_name(), exc_info=True)
