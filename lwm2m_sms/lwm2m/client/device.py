"""One simulated LwM2M 1.0.2 device: the parts of this package put together.

:class:`Lwm2mClient` serves its objects as the ``serversite`` of the aiocoap context it is
given and sends its requests through the same context, so a device is whatever that
context's transports make it: a UDP socket, an SMS number (the SMS transport on the
device's bearer), or both (US, UQS). aiocoap serves one site per context and picks one
transport per URI scheme, so each simulated device has a context of its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Awaitable, Callable, Coroutine, Mapping, Optional

import aiocoap
from aiocoap import Message
from aiocoap.numbers.codes import Code

from ...sms.address import Address, parse_msisdn
from ..binding import BINDINGS
from ..exceptions import ConfigError
from ..path import LwM2MPath, parse_path
from ..remote import remote_uri
from .accounts import SECURED_SMS_MODES, SMS_NOSEC, ServerAccount, Tree, bootstrap_account, server_accounts
from .bootstrap import BootstrapSchedule, BootstrapState, Smartcard
from .handlers import RequestHandler
from .objecttree import SERVER_EXECUTABLES, ObjectTree, default_device
from .observe import Observations, effective_attributes
from .reception import QueueWindow, SmsTrust, install_sleep_gate, install_sms_trust
from .registration import RegistrationLoop, Session
from .site import ClientSite
from .stats import DeviceStats

__all__ = ["Lwm2mClient", "DEFAULT_QUEUE_WINDOW"]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_WINDOW = 93.0


class Lwm2mClient:
    """One simulated device.

    Accounts: ``server`` (a URI) makes it register without bootstrap (Factory Bootstrap);
    ``bootstrap`` (a URI, ``coap+sms://+N`` for a bootstrap server reached by SMS) gives
    it a bootstrap account, with ``bootstrap_sms`` (/0/x/9), ``hold_off`` (/0/x/11) and
    ``bootstrap_account_timeout`` (/0/x/12); ``smartcard`` a card applied at start.
    ``sms`` is the device's own MSISDN, sent as ``sms=`` on Register; ``server_sms`` the
    server's number (/0/x/9). ``clock`` gives Unix seconds (for /3/0/13 and queue mode);
    ``sleep`` runs the bootstrap timers (hold-off, retry back-off, account timeout), so a
    test can drive them without real time."""

    # A fleet of 10,000 simulated devices lives in one process: no per-instance dict.
    __slots__ = (
        "context", "endpoint", "clock", "sleep", "smartcard", "bootstrap_schedule", "bootstrap_uri", "objects",
        "stats", "_tasks", "tree", "window", "trust", "observations", "registrations", "bootstrap_state",
        "_awaiting_bootstrap", "handler", "site", "_purge", "on_sms_security", "sms_modes",
    )

    def __init__(
        self,
        context: aiocoap.Context,
        endpoint: str,
        *,
        server: Optional[str] = None,
        bootstrap: Optional[str] = None,
        binding: str = "U",
        lifetime: int = 300,
        sms: "str | Address | None" = None,
        server_sms: "str | Address | None" = None,
        bootstrap_sms: "str | Address | None" = None,
        hold_off: Optional[int] = None,
        bootstrap_account_timeout: Optional[int] = None,
        smartcard: Optional[Smartcard] = None,
        bootstrap_schedule: Optional[BootstrapSchedule] = None,
        short_server_id: int = 1,
        queue_window: float = DEFAULT_QUEUE_WINDOW,
        update_margin: float = 0.8,
        time_resolution: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        device: Optional[dict[int, Any]] = None,
        sms_security: "tuple[int, bytes, bytes] | None" = None,
        on_sms_security: Optional[Callable[[aiocoap.Context, Mapping[int, Any]], None]] = None,
    ):
        """``sms_security`` is (/0/x/6, /0/x/7, /0/x/8) of the server account given here;
        ``on_sms_security`` (the SMS security layer's hook, lwm2m_sms.security) is called
        with the context and each server's Security instance before registering, so it
        protects SMS to and from /0/x/9 as /0/x/6..8 say. Without it, only SMS security
        mode NoSec is accepted."""
        if binding not in BINDINGS:
            raise ConfigError(f"binding {binding!r} is not one of {', '.join(sorted(BINDINGS))}")
        if server is None and bootstrap is None and smartcard is None:
            raise ConfigError("give a server URI, a bootstrap server URI or a smartcard")
        self.context = context
        self.endpoint = endpoint
        self.clock = clock
        self.sleep = sleep
        self.smartcard = smartcard
        self.bootstrap_schedule = bootstrap_schedule
        self.bootstrap_uri = bootstrap
        self.objects: Tree = {0: {}, 1: {}, 3: {0: device or default_device(endpoint, binding)}}
        if bootstrap is not None:
            self.objects[0][0] = ServerAccount(
                bootstrap, bootstrap=True, sms_number=parse_msisdn(bootstrap_sms) if bootstrap_sms else None,
                hold_off=hold_off, account_timeout=bootstrap_account_timeout,
            ).security_instance()
        if server is not None:
            account = ServerAccount(
                server, short_server_id, lifetime, binding,
                parse_msisdn(server_sms) if server_sms is not None else None,
            )
            if sms_security is not None:
                account.sms_security_mode, account.sms_key_parameters, account.sms_secret_key = sms_security
            self.objects[0][1] = account.security_instance()
            self.objects[1][0] = account.server_instance() | SERVER_EXECUTABLES
        self.stats = DeviceStats()
        self._tasks: Optional[set[asyncio.Task[Any]]] = None  # made by the first _spawn
        self.tree = ObjectTree(self.objects, lambda: int(self.clock()))
        self.window = QueueWindow(lambda: self.binding, clock, queue_window, endpoint, self.stats)
        self.trust = SmsTrust(self.objects, endpoint, self.stats)
        self.observations = Observations(self.tree, awake=self.window.awake, on_notify=self._notified,
                                         time_resolution=time_resolution)
        self.registrations = RegistrationLoop(endpoint, self._send, self.tree.registration_links,
                                              sms=parse_msisdn(sms) if sms is not None else None,
                                              update_margin=update_margin, stats=self.stats, spawn=self._spawn)
        self.bootstrap_state = BootstrapState()
        self._awaiting_bootstrap = False
        self._purge: "Optional[asyncio.Task[Any]]" = None
        self.handler = RequestHandler(endpoint, self.tree, self.observations, self.registrations,
                                      self.bootstrap_state, self.stats, self._bootstrap_finished,
                                      self._server_bootstrap_begun)
        self.on_sms_security = on_sms_security
        self.sms_modes = SECURED_SMS_MODES if on_sms_security is not None else (SMS_NOSEC,)
        self.handler.sms_modes = self.sms_modes
        self.site = ClientSite(endpoint, self.handler, self.observations, self.window.activity)
        context.serversite = self.site
        install_sleep_gate(context, self.window)
        install_sms_trust(context, self.trust)

    # --- state ----------------------------------------------------------------------------

    @property
    def attributes(self) -> dict[LwM2MPath, dict[str, Any]]:
        return self.tree.attributes

    @property
    def sms(self) -> Optional[Address]:
        """The device's own number, sent as ``sms=`` on Register."""
        return self.registrations.sms

    @sms.setter
    def sms(self, value: Optional[Address]) -> None:
        self.registrations.sms = value

    @property
    def registered(self) -> asyncio.Event:
        return self.registrations.registered

    @property
    def _sessions(self) -> dict[int, Session]:
        # kept for callers written against the one-module client
        return self.registrations.sessions

    @property
    def binding(self) -> str:
        for inst in self.objects[1].values():
            return str(inst.get(7, "U"))
        return "U"

    @property
    def queue_mode(self) -> bool:
        return "Q" in self.binding

    def awake(self) -> bool:
        return self.window.awake()

    def _sent_message(self) -> None:
        self.window.activity()

    def accepts(self, message: Message, *, queued: Optional[bool] = None) -> bool:
        """Whether an incoming request reaches the device: not while it sleeps on a
        transport its binding queues, and by SMS only from a number an account in /0 names
        (both dropped silently and counted)."""
        if not self.window.accepts(message, queued=queued):
            return False
        remote = message.remote
        return getattr(remote, "msisdn", None) is None or self.trust.accept_filter(remote, message)

    def trusted_numbers(self) -> set[Address]:
        return self.trust.trusted_numbers()

    def server_accounts(self) -> list[ServerAccount]:
        return server_accounts(self.objects, self.endpoint)

    def effective_attributes(self, path: LwM2MPath) -> dict[str, Any]:
        return effective_attributes(self.tree, path)

    def set_value(self, path: "str | LwM2MPath", value: Any) -> None:
        """Change a resource as the device itself would (notifies observers)."""
        p = parse_path(path)
        self.objects[p[0]][p[1]][p[2]] = value
        self.observations.notify(p)

    def _notified(self) -> None:
        self.stats["notifications"] += 1
        self.window.activity()

    # --- life cycle -------------------------------------------------------------------------

    async def start(self, *, bootstrap_timeout: float = 60.0) -> None:
        """Boot as LwM2M 1.0.2 5.2.3 orders it: the smartcard's bootstrap information
        first, then the server accounts the device holds; with none, or when it registers
        with none of them, bootstrap (hold-off, then Client Initiated Bootstrap unless the
        server starts one). Returns once registered with every server account."""
        if self.smartcard is not None and "smartcard" not in self.bootstrap_state.completed:
            # 5.2.3: the card comes before the factory's accounts (it replaces them); once
            # applied, a later start keeps what bootstraps since have written
            self.apply_smartcard(self.smartcard)
        bootstrapped = False
        if not self.server_accounts() and bootstrap_account(self.objects) is not None:
            await self.bootstrap(timeout=bootstrap_timeout)
            bootstrapped = True
        try:
            await self.register_all()
        except (ConfigError, aiocoap.error.Error, OSError) as exc:
            registered_somewhere = any(s.location for s in self.registrations.sessions.values())
            if bootstrapped or registered_somewhere or bootstrap_account(self.objects) is None:
                raise
            # 5.2.3: registered with none of its servers, the device bootstraps
            log.warning("ep=%s registered with none of its servers (%s): Client Initiated Bootstrap",
                        self.endpoint, exc)
            self.registrations.detach()
            await self.bootstrap(timeout=bootstrap_timeout)
            await self.register_all()

    async def stop(self, deregister: bool = True, timeout: float = 10.0) -> None:
        """De-register from every server (when asked; each De-register given up after
        ``timeout`` seconds, so an unreachable server does not hold a shutdown), stop all
        timers."""
        tasks = [t for t in self._tasks or () if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        self.observations.stop()
        await self.registrations.stop(deregister, timeout)
        # gone when stop() returns: a caller that shuts the context down next leaves no
        # task of this device pending
        await asyncio.gather(*tasks, return_exceptions=True)

    async def register_all(self) -> None:
        accounts = self.server_accounts()
        if self.on_sms_security is not None:
            for sec in self.objects[0].values():
                if not sec.get(1) and sec.get(10) in {a.short_server_id for a in accounts}:
                    self.on_sms_security(self.context, sec)
        await self.registrations.register_all(accounts, self.sms_modes)

    async def update(self, short_server_id: Optional[int] = None) -> None:
        """Send an Update now (to one server or all)."""
        await self.registrations.update(short_server_id)

    def trigger_update(
        self, short_server_id: Optional[int] = None, *, objects_changed: bool = False, **changed: str
    ) -> None:
        """Send an Update soon, with the changed parameters (``lt``, ``b``)."""
        self.registrations.trigger_update(short_server_id, objects_changed=objects_changed, changed=changed)

    async def _send(self, request: Message) -> Message:
        self.window.activity()
        response: Message = await self.context.request(request).response
        self.window.activity()
        return response

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> "asyncio.Task[Any]":
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- bootstrap ------------------------------------------------------------------------

    def apply_smartcard(self, card: Smartcard) -> None:
        """Bootstrap from Smartcard: the card's /0 and /1 instances, written as a bootstrap
        server would write them (ConfigError if the card is unreadable or asks for a
        security mode that is not built)."""
        security, server = card.instances(self.sms_modes)
        self.tree.bootstrap_delete(())
        for obj, instances in ((0, security), (1, server)):
            for iid, values in instances.items():
                self.tree.bootstrap_write_instance(obj, iid, values, lambda _inst: None)
        self.bootstrap_state.completed.append("smartcard")
        log.info("ep=%s Bootstrap from Smartcard: %d security, %d server instance(s)", self.endpoint,
                 len(security), len(server))
        self._schedule_account_purge()

    async def bootstrap(self, timeout: float = 60.0) -> None:
        """Wait the Client Hold Off Time (a Server Initiated Bootstrap may come
        meanwhile), then Client Initiated Bootstrap: Bootstrap-Request, retried with
        back-off while unanswered, then serve the bootstrap server's commands until
        Bootstrap-Finish. ConfigError when refused, unanswered, or when the session stops:
        no command from the bootstrap server for ``timeout`` seconds and no Finish."""
        found = bootstrap_account(self.objects, self.endpoint)
        if found is None:
            raise ConfigError(f"ep={self.endpoint}: no bootstrap-server account")
        _iid, account = found
        schedule = self.bootstrap_schedule or BootstrapSchedule()
        if account.hold_off is not None:
            schedule = dataclasses.replace(schedule, hold_off=account.hold_off)
        state = self.bootstrap_state
        finished = state.waiter()
        self._awaiting_bootstrap = True
        try:
            attempt = 0
            while True:
                delay = schedule.delay_before(attempt)
                if delay is None:
                    raise ConfigError(f"ep={self.endpoint}: no answer to {attempt} Bootstrap-Request(s) "
                                      f"to {account.uri}")
                if delay > 0:
                    await self._sleep_unless(finished, delay)
                if finished.done() or state.active:  # the bootstrap server came first
                    await self._wait_finish(finished, timeout)
                    return
                attempt += 1
                if await self._bootstrap_request(account):
                    await self._wait_finish(finished, timeout)
                    return
        finally:
            self._awaiting_bootstrap = False
            if state.active and not finished.done():
                state.end()

    async def _bootstrap_request(self, account: ServerAccount) -> bool:
        """One Bootstrap-Request: True when accepted, False when unanswered."""
        msg = Message(code=Code.POST, uri=f"{account.uri.rstrip('/')}/bs")
        msg.opt.uri_query = (f"ep={self.endpoint}",)
        self.stats["bootstrap_requests"] += 1
        self.bootstrap_state.begin("client")
        try:
            response = await self._send(msg)
        except (aiocoap.error.Error, OSError) as exc:
            self.bootstrap_state.end()
            self.stats["bootstrap_unanswered"] += 1
            log.warning("ep=%s Bootstrap-Request to %s unanswered: %r", self.endpoint, account.uri, exc)
            return False
        if response.code.class_ == 5:
            # the bootstrap server cannot now (too many bootstraps running): ask again later
            self.bootstrap_state.end()
            self.stats["bootstrap_unanswered"] += 1
            log.warning("ep=%s Bootstrap-Request to %s answered %s: asking again later", self.endpoint,
                        account.uri, response.code)
            return False
        if response.code != Code.CHANGED:
            self.bootstrap_state.end()
            raise ConfigError(f"Bootstrap-Request refused with {response.code}: "
                              f"{response.payload.decode('utf-8', 'replace')}")
        # the session's commands come from where the answer came (a host name in the
        # bootstrap URI names the same peer by another spelling)
        self.bootstrap_state.peer = remote_uri(response.remote)
        log.info("ep=%s Bootstrap-Request accepted by %s", self.endpoint, account.uri)
        return True

    async def _sleep_unless(self, finished: "asyncio.Future[None]", delay: float) -> None:
        sleeper = asyncio.ensure_future(self.sleep(delay))
        try:
            await asyncio.wait({sleeper, finished}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()

    async def _wait_finish(self, finished: "asyncio.Future[None]", timeout: float) -> None:
        # ``timeout`` is the silence allowed between the bootstrap server's commands, not the
        # whole session: by SMS five steps can take longer than one wait, and still move
        # (on the client's sleep, as the other bootstrap timers)
        while True:
            seen = self.bootstrap_state.commands
            await self._sleep_unless(finished, timeout)
            if finished.done():
                return
            if self.bootstrap_state.commands == seen:
                raise ConfigError(f"no Bootstrap-Finish: no command from the bootstrap server for {timeout:g} s")

    def _server_bootstrap_begun(self) -> None:
        """The bootstrap server opened a session on its own. While bootstrap() runs, it
        waits for Finish with its own timeout; otherwise a watchdog leaves a session that
        stops moving."""
        if not self._awaiting_bootstrap:
            self._spawn(self._leave_stalled_bootstrap(self.bootstrap_state.waiter()))

    async def _leave_stalled_bootstrap(self, finished: "asyncio.Future[None]") -> None:
        state = self.bootstrap_state
        timeout = (self.bootstrap_schedule or BootstrapSchedule()).session_timeout
        while True:
            seen = state.commands
            await self._sleep_unless(finished, timeout)
            if finished.done() or not state.active or state.finished is not finished:
                return
            if state.commands == seen:
                break
        state.end()
        self.stats["bootstrap_abandoned"] += 1
        log.warning("ep=%s Server Initiated Bootstrap by %s left: no command for %g s and no Bootstrap-Finish",
                    self.endpoint, state.peer, timeout)
        if not self.server_accounts() and bootstrap_account(self.objects) is not None:
            # its Delete took the server accounts: bootstrap as a device without any does
            await self._bootstrap_again()

    async def _bootstrap_again(self) -> None:
        self.registrations.set_registered(False)
        try:
            await self.bootstrap()
        except ConfigError as exc:
            log.error("ep=%s: bootstrap failed: %s", self.endpoint, exc)
            return
        await self._register_again()

    def _bootstrap_finished(self) -> None:
        """Bootstrap-Finish accepted: start the account timeout; a device that was not
        waiting for a bootstrap (Server Initiated on a running device) registers anew."""
        self._schedule_account_purge()
        if not self._awaiting_bootstrap:
            self.registrations.set_registered(False)  # set again once registered anew
            self._spawn(self._register_again())

    async def _register_again(self) -> None:
        await asyncio.sleep(0)  # let the 2.04 to Bootstrap-Finish go out first
        # the registrations of before the bootstrap are ended, not left to expire on their
        # servers; in the background: by SMS the old server's answer no longer gets in
        # (its number left /0), so a De-register there waits out its timeout
        old = self.registrations.detach()
        if any(s.location for s in old):
            self._spawn(self.registrations.deregister(old, 10.0))
        try:
            await self.register_all()
        except (ConfigError, aiocoap.error.Error) as exc:
            log.error("ep=%s: registration after bootstrap failed: %s", self.endpoint, exc)

    def _schedule_account_purge(self) -> None:
        # the timeout runs from the last bootstrap: an earlier one's timer must not purge
        # the account a later bootstrap wrote
        if self._purge is not None:
            self._purge.cancel()
            self._purge = None
        found = bootstrap_account(self.objects, self.endpoint)
        if found is not None and found[1].account_timeout:
            self._purge = self._spawn(self._purge_bootstrap_account(found[0], found[1].account_timeout))

    async def _purge_bootstrap_account(self, iid: int, timeout: float) -> None:
        # LwM2M 1.0.2 E.1 /0/x/12: the bootstrap account is purged after this many seconds
        await self.sleep(timeout)
        if self.objects[0].get(iid, {}).get(1):
            del self.objects[0][iid]
            log.info("ep=%s Bootstrap-Server Account Timeout (%s s): bootstrap account /0/%d purged",
                     self.endpoint, timeout, iid)
