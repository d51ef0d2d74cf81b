"""Server Initiated Bootstrap from the operator interface (LwM2M 1.0.2 5.2.3): start a
push of an endpoint's bootstrap information to a device, and follow it.

* ``POST /api/bootstrap/{ep}`` with ``{"remote": "+N"}`` (by SMS; also ``coap+sms://+N``)
  or ``{"remote": "coap://host:port"}`` (UDP) starts :meth:`BootstrapServer.push
  <lwm2m_sms.lwm2m.bootstrap.BootstrapServer.push>` and answers 202 with the session and
  ``Location: /api/bootstrap/{ep}``; if it ends within ``wait`` seconds the answer is the
  ended session (200 succeeded, 502 failed: the device answered wrong or not at all).
* ``GET /api/bootstrap/{ep}``: the endpoint's last bootstrap, pushed or asked for by the
  device (``initiated_by``), with each step's code.

Refused before anything is sent: 404 when the gateway has no bootstrap server or no
information for the endpoint, 409 while a bootstrap of it runs, 503 at the server's limit
of sessions, 400 for an address that is none. The end of every push is an ``bootstrap``
event on the event stream. The bootstrap server bounds what runs (``max_sessions``) and
what it remembers (``max_history``); this module keeps nothing of its own but the tasks
of pushes that run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from ..lwm2m.bootstrap import BootstrapServer, BootstrapSession
from ..lwm2m.exceptions import ConfigError

__all__ = ["BootstrapPushes", "PushRefused", "session_json"]

log = logging.getLogger(__name__)


class PushRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def session_json(session: BootstrapSession) -> dict[str, Any]:
    return {
        "endpoint": session.endpoint,
        "initiated_by": session.initiated_by,
        "remote": str(session.remote),
        "msisdn": str(session.msisdn) if session.msisdn is not None else None,
        "state": session.state,
        "error": session.error or None,
        "steps": [{"step": s.step, "code": str(s.code.dotted) if s.code is not None else None,
                   "ok": s.ok, "error": s.error or None} for s in session.steps],
    }


class BootstrapPushes:
    """Pushes started through the API on ``server``; ``on_end(session)`` sees each end."""

    def __init__(self, server: Optional[BootstrapServer],
                 on_end: Optional[Callable[[BootstrapSession], None]] = None) -> None:
        self.server = server
        self.on_end = on_end
        self._tasks: set[asyncio.Task[BootstrapSession]] = set()

    def _server(self) -> BootstrapServer:
        if self.server is None:
            raise PushRefused(404, "this gateway has no bootstrap server (server --bootstrap-config)")
        return self.server

    def last(self, endpoint: str) -> BootstrapSession:
        session = self._server().sessions.get(endpoint)
        if session is None:
            raise PushRefused(404, f"no bootstrap of {endpoint!r} is known")
        return session

    def start(self, endpoint: str, remote: str) -> "asyncio.Task[BootstrapSession]":
        """Start a push; :class:`PushRefused` says why not, before anything is sent."""
        server = self._server()
        if server.config.lookup(endpoint) is None:
            raise PushRefused(404, f"no bootstrap information for endpoint {endpoint!r}")
        running = server.sessions.get(endpoint)
        if running is not None and running.state == "running":
            raise PushRefused(409, f"a bootstrap of {endpoint!r} is running ({running.initiated_by} initiated)")
        if server.running >= server.max_sessions:
            raise PushRefused(503, f"{server.max_sessions} bootstraps are running: try again later")
        try:
            server.check_push(endpoint, remote)
        except ConfigError as exc:  # what is left is the address
            raise PushRefused(400, str(exc)) from None
        task = asyncio.get_running_loop().create_task(server.push(endpoint, remote))
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: "asyncio.Task[BootstrapSession]") -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            if not isinstance(exc, ConfigError):
                log.error("bootstrap push failed: %r", exc)
            return
        session = task.result()
        log.info("bootstrap push ep=%s to %s: %s %s", session.endpoint, session.msisdn or session.remote,
                 session.state, session.error)
        if self.on_end is not None:
            self.on_end(session)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
