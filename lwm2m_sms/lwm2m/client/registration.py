"""The client's registration interface (LwM2M 1.0.2 5.3): Register, periodic Update,
Update on demand, De-register, one session per server account.

Which address a device talks to: the LwM2M Server URI (/0/x/0), except for the SMS
bindings S and SQ, where it sends to the server's SMS number (/0/x/9) as ``coap+sms://+N``.
An Update goes at ``update_margin`` of the lifetime (default 0.8); after a failed one,
sooner (a tenth of that, doubling), so that one lost Update does not let the registration
expire. A 4.04 to an Update (the server forgot the device) makes it register again.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Coroutine, Optional

import aiocoap
from aiocoap import Message
from aiocoap.numbers.codes import Code

from ...sms.address import Address
from ..content import ContentFormat
from ..exceptions import ConfigError
from .accounts import SMS_NOSEC, ServerAccount, check_security

__all__ = ["RegistrationLoop", "Session", "registration_uri"]

log = logging.getLogger(__name__)

Send = Callable[[Message], Awaitable[Message]]
_warned_nosec = False


def registration_uri(account: ServerAccount) -> str:
    if account.binding in ("S", "SQ") and account.sms_number is not None:
        return f"coap+sms://{account.sms_number}"
    return account.uri.rstrip("/")


@dataclass(slots=True)
class Session:
    account: ServerAccount
    base_uri: str
    location: Optional[str] = None  # "/rd/5a3f": the Location-Path of the Register answer
    task: Optional["asyncio.Task[None]"] = None
    pending: dict[str, str] = field(default_factory=dict)  # changed lt/b for the next Update
    objects_changed: bool = False  # instances created/deleted: the next Update carries the list
    # "Update now" without an asyncio.Event (0.8 KiB each, per device and server): a flag,
    # and a future only while the loop waits
    update_requested: bool = False
    _wake: Optional["asyncio.Future[None]"] = None

    def request_update(self) -> None:
        self.update_requested = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def wait_for_update(self, delay: float) -> None:
        """Until an Update is requested or ``delay`` seconds have passed."""
        if not self.update_requested:
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._wake, delay)
            except asyncio.TimeoutError:
                pass
            finally:
                self._wake = None
        self.update_requested = False


class RegistrationLoop:
    """Registrations of one device. ``links()`` gives the object list to send;
    ``stats`` counts ``registers`` and ``updates``."""

    __slots__ = ("endpoint", "send", "links", "sms", "update_margin", "stats", "spawn", "sessions", "_registered",
                 "_registered_event")

    def __init__(
        self, endpoint: str, send: Send, links: Callable[[], bytes], *, sms: Optional[Address],
        update_margin: float, stats: "MutableMapping[str, int]",
        spawn: Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"],
    ):
        self.endpoint = endpoint
        self.send = send
        self.links = links
        self.sms = sms
        self.update_margin = update_margin
        self.stats = stats
        self.spawn = spawn
        self.sessions: dict[int, Session] = {}
        # an asyncio.Event costs about 0.8 KiB (its deque): made only for who waits on it
        self._registered = False
        self._registered_event: Optional[asyncio.Event] = None

    @property
    def registered(self) -> asyncio.Event:
        """Set while the device is registered with every server account."""
        if self._registered_event is None:
            self._registered_event = asyncio.Event()
            if self._registered:
                self._registered_event.set()
        return self._registered_event

    def set_registered(self, registered: bool) -> None:
        self._registered = registered
        if self._registered_event is not None:
            if registered:
                self._registered_event.set()
            else:
                self._registered_event.clear()

    async def register_all(self, accounts: list[ServerAccount], sms_modes: tuple[int, ...] = (SMS_NOSEC,)) -> None:
        if not accounts:
            raise ConfigError(f"ep={self.endpoint}: no LwM2M server account to register with")
        for account in accounts:
            check_security(account.security_instance(), sms_modes)
            if "S" in account.binding and account.sms_security_mode in (None, SMS_NOSEC):
                # The spec allows NoSec on SMS for debugging and trigger-only use. Said once
                # per process at WARNING: a simulated fleet would print it per device.
                global _warned_nosec
                level = logging.INFO if _warned_nosec else logging.WARNING
                _warned_nosec = True
                log.log(level, "ep=%s: binding %s with %s runs SMS on NoSec (SMS security mode 3)",
                        self.endpoint, account.binding, account.uri)
            session = Session(account, registration_uri(account))
            self.sessions[account.short_server_id] = session
            await self._register(session)
            session.task = self.spawn(self._update_loop(session))
        self.set_registered(True)

    async def _register(self, session: Session) -> None:
        a = session.account
        msg = Message(code=Code.POST, uri=f"{session.base_uri}/rd", content_format=ContentFormat.LINK_FORMAT.value,
                      payload=self.links())
        query = [f"ep={self.endpoint}", f"lt={a.lifetime}", "lwm2m=1.0", f"b={a.binding}"]
        if self.sms is not None:
            query.append(f"sms={self.sms.lwm2m_digits}")
        msg.opt.uri_query = tuple(query)
        response = await self.send(msg)
        if response.code != Code.CREATED:
            raise ConfigError(f"ep={self.endpoint}: Register refused by {session.base_uri} with {response.code}: "
                              f"{response.payload.decode('utf-8', 'replace')}")
        # Some servers put the whole path into one Location-Path option ("/rd/1"):
        # split and rejoin so both forms address the same resource.
        segments = [seg for part in response.opt.location_path for seg in part.split("/") if seg]
        if not segments:
            raise ConfigError(f"ep={self.endpoint}: Register answer from {session.base_uri} has no Location-Path")
        session.location = "/" + "/".join(segments)
        self.stats["registers"] += 1
        log.info("ep=%s registered with %s at %s (b=%s lt=%s)", self.endpoint, session.base_uri,
                 session.location, a.binding, a.lifetime)

    async def update(self, short_server_id: Optional[int] = None) -> None:
        for ssid, session in list(self.sessions.items()):
            if short_server_id is None or ssid == short_server_id:
                await self._update(session)

    async def _update(self, session: Session) -> None:
        if session.location is None:
            await self._register(session)
            return
        msg = Message(code=Code.POST, uri=session.base_uri + session.location)
        pending, session.pending = session.pending, {}
        objects_changed, session.objects_changed = session.objects_changed, False
        msg.opt.uri_query = tuple(f"{k}={v}" for k, v in pending.items())
        if objects_changed:
            msg.opt.content_format = ContentFormat.LINK_FORMAT.value
            msg.payload = self.links()
        try:
            response = await self.send(msg)
        except BaseException:
            # not sent: the next Update carries them
            session.pending = {**pending, **session.pending}
            session.objects_changed |= objects_changed
            raise
        if response.code == Code.NOT_FOUND:
            log.info("ep=%s: %s forgot %s, registering again", self.endpoint, session.base_uri, session.location)
            session.location = None
            await self._register(session)
            return
        if response.code != Code.CHANGED:
            raise ConfigError(f"ep={self.endpoint}: Update refused with {response.code}")
        self.stats["updates"] += 1
        log.info("ep=%s Update to %s %s %s", self.endpoint, session.base_uri, session.location,
                 " ".join(msg.opt.uri_query) or "(no parameters)")

    async def _update_loop(self, session: Session) -> None:
        failures = 0
        while True:
            delay = max(0.1, session.account.lifetime * self.update_margin)
            if failures:
                delay = min(delay, max(0.1, delay / 10 * 2 ** (failures - 1)))
            await session.wait_for_update(delay)
            try:
                await self._update(session)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any one failure
                failures += 1
                log.warning("ep=%s Update to %s failed (%d in a row): %r", self.endpoint, session.base_uri,
                            failures, exc)

    def trigger_update(
        self, short_server_id: Optional[int] = None, *, objects_changed: bool = False,
        changed: Optional[dict[str, str]] = None,
    ) -> None:
        """Send an Update soon, with the changed parameters; ``objects_changed`` makes it
        carry the object list (LwM2M 1.0.2: after instances were created or deleted)."""
        for ssid, session in self.sessions.items():
            if short_server_id is None or ssid == short_server_id:
                session.pending.update(changed or {})
                session.objects_changed |= objects_changed
                session.request_update()

    def server_written(self, instance: "MutableMapping[int, Any]", written: dict[int, Any]) -> None:
        """Resources ``written`` into a /1 instance: a new lifetime (/1/x/1) or binding
        (/1/x/7) goes into the session and is sent in an Update at once."""
        changed = {}
        if 1 in written:
            changed["lt"] = str(written[1])
        if 7 in written:
            changed["b"] = str(written[7])
        if not changed:
            return
        ssid = instance.get(0)
        for session in self.sessions.values():
            if session.account.short_server_id == ssid:
                session.account.lifetime = int(instance.get(1, session.account.lifetime))
                session.account.binding = str(instance.get(7, session.account.binding))
        self.trigger_update(ssid if isinstance(ssid, int) else None, changed=changed)

    def cancel(self) -> None:
        """Stop the Update loops (registrations stay as they are on the servers)."""
        for session in self.sessions.values():
            if session.task is not None:
                session.task.cancel()

    def detach(self) -> list[Session]:
        """Stop the Update loops and forget the sessions (for :meth:`deregister`): the
        device is registered nowhere as far as this loop knows."""
        self.cancel()
        sessions = list(self.sessions.values())
        self.sessions.clear()
        self.set_registered(False)
        return sessions

    async def deregister(self, sessions: list[Session], timeout: float) -> None:
        """De-register each of ``sessions`` that is registered (each given up after
        ``timeout`` seconds)."""
        for session in sessions:
            if session.location is not None:
                try:
                    await asyncio.wait_for(
                        self.send(Message(code=Code.DELETE, uri=session.base_uri + session.location)), timeout)
                    log.info("ep=%s de-registered from %s", self.endpoint, session.base_uri)
                except (aiocoap.error.Error, asyncio.TimeoutError) as exc:
                    log.warning("ep=%s de-register from %s failed: %r", self.endpoint, session.base_uri, exc)
                session.location = None

    async def stop(self, deregister: bool, timeout: float) -> None:
        sessions = self.detach()
        if deregister:
            await self.deregister(sessions, timeout)
