"""Observations on a device and when they notify (LwM2M 1.0.2 5.1.2 and 5.4).

Notifications follow the Write-Attributes pmin, pmax, gt, lt and st, resource over
instance over object, with the server's /1/x/2 and /1/x/3 as default pmin and pmax. /3/0/13
Current Time changes every ``time_resolution`` seconds, so observing it ticks; so does any
observation with a pmax. :func:`crossed` and :func:`effective_attributes` are the rules;
:class:`Observations` keeps the per-observation state and sends through aiocoap's server
observation objects (``trigger()``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..path import LwM2MPath
from .objecttree import ObjectTree

__all__ = ["Observations", "crossed", "effective_attributes"]

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    """One observation's state: when it last sent, the number it last sent (for gt, lt,
    st), a notification held back by pmin."""

    last: float
    value: Optional[float]
    pending: Optional[asyncio.TimerHandle] = None


def crossed(attrs: dict[str, Any], old: Optional[float], new: Optional[float]) -> bool:
    """LwM2M 1.0.2 5.1.2: with gt/lt/st on a numeric resource, notify only when the value
    crosses gt or lt, or moved by at least st; otherwise on every change."""
    if old is None or new is None or not any(k in attrs for k in ("gt", "lt", "st")):
        return True
    for limit in (attrs.get("gt"), attrs.get("lt")):
        if limit is not None and (old - float(limit)) * (new - float(limit)) <= 0 and old != new:
            return True
    st = attrs.get("st")
    return st is not None and abs(new - old) >= float(st)


def effective_attributes(tree: ObjectTree, path: LwM2MPath) -> dict[str, Any]:
    """Notification attributes for ``path``: the resource's over the instance's over the
    object's, pmin/pmax defaulting to the server's /1/x/2 and /1/x/3."""
    attrs: dict[str, Any] = {}
    server = next(iter(tree.objects.get(1, {}).values()), {})
    if server.get(2) is not None:
        attrs["pmin"] = server[2]
    if server.get(3) is not None:
        attrs["pmax"] = server[3]
    for level in range(1, len(path) + 1):
        attrs.update(tree.attributes.get(path[:level], {}))
    return attrs


def _watches_time(path: LwM2MPath) -> bool:
    return path[:1] == (3,) and (len(path) < 3 or path[2] == 13)


class Observations:
    """The observations of one device. ``awake()`` says whether the device may send now
    (queue mode); ``on_notify`` is called for each notification sent."""

    __slots__ = ("tree", "awake", "on_notify", "time_resolution", "sent", "_observers", "_tick_task")

    def __init__(
        self, tree: ObjectTree, *, awake: Callable[[], bool], on_notify: Callable[[], None],
        time_resolution: float = 1.0,
    ):
        self.tree = tree
        self.awake = awake
        self.on_notify = on_notify
        self.time_resolution = time_resolution
        self.sent = 0
        self._observers: dict[LwM2MPath, dict[Any, _Watch]] = {}
        self._tick_task: Optional[asyncio.Task[None]] = None

    @staticmethod
    def now() -> float:
        # monotonic, for pmin/pmax spacing (the injectable clock is for /3/0/13 and queue mode)
        return time.monotonic()

    def add(self, path: LwM2MPath, observation: Any) -> None:
        """Track an aiocoap server observation of ``path`` until it is cancelled."""
        observers = self._observers.setdefault(path, {})
        observers[observation] = _Watch(self.now(), self.tree.numeric(path))

        def cancelled() -> None:
            watch = observers.pop(observation, None)
            if watch is not None and watch.pending is not None:
                watch.pending.cancel()
            self.changed()

        observation.accept(cancelled)
        self.changed()

    def observed_paths(self) -> list[LwM2MPath]:
        return [p for p, obs in self._observers.items() if obs]

    def notify(self, changed: LwM2MPath) -> None:
        """A value under ``changed`` changed: notify the observations whose path covers or
        lies below it, as their attributes allow (gt/lt/st on numbers, no more often than
        pmin: a change within pmin is sent when pmin has passed)."""
        now = self.now()
        for path, observers in self._observers.items():
            n = min(len(path), len(changed))
            if path[:n] != changed[:n]:
                continue
            attrs = effective_attributes(self.tree, path)
            value = self.tree.numeric(path)
            for obs, watch in list(observers.items()):
                if not crossed(attrs, watch.value, value):
                    continue
                watch.value = value
                wait = float(attrs.get("pmin") or 0) - (now - watch.last)
                if wait <= 0:
                    self._send(obs, watch, now)
                elif watch.pending is None:
                    watch.pending = asyncio.get_running_loop().call_later(wait, self._send_later, obs, watch)

    def check_pmax(self) -> None:
        """Send a notification to each observation silent for its pmax."""
        now = self.now()
        for path, observers in self._observers.items():
            pmax = effective_attributes(self.tree, path).get("pmax")
            if not pmax:
                continue
            for obs, watch in list(observers.items()):
                if now - watch.last >= float(pmax):
                    self._send(obs, watch, now)

    def _wants_ticks(self) -> bool:
        return any(obs and (_watches_time(p) or effective_attributes(self.tree, p).get("pmax"))
                   for p, obs in self._observers.items())

    def changed(self) -> None:
        """Observations or attributes changed: start or stop the tick."""
        wanted = self._wants_ticks()
        if wanted and self._tick_task is None:
            self._tick_task = asyncio.get_running_loop().create_task(self._tick())
        elif not wanted and self._tick_task is not None:
            self._tick_task.cancel()
            self._tick_task = None

    def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
            self._tick_task = None

    async def _tick(self) -> None:
        # /3/0/13 Current Time changes every time_resolution seconds (1 s by default);
        # observations silent for their pmax get a notification. Asleep, nothing is sent.
        while True:
            await asyncio.sleep(max(self.time_resolution, 0.01))
            if self.awake():
                if any(_watches_time(p) for p in self.observed_paths()):
                    self.notify((3, 0, 13))
                self.check_pmax()

    def _send_later(self, obs: Any, watch: _Watch) -> None:
        watch.pending = None
        self._send(obs, watch, self.now())

    def _send(self, obs: Any, watch: _Watch, now: float) -> None:
        if watch.pending is not None:
            watch.pending.cancel()
            watch.pending = None
        watch.last = now
        self.sent += 1
        self.on_notify()
        obs.trigger()
