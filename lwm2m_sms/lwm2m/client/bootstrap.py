"""The client side of bootstrap (LwM2M 1.0.2 5.2): the four modes and their timers.

Order at start (5.2.3): a smartcard's bootstrap information is applied first (Bootstrap
from Smartcard); a device that then holds a server account registers with it (Factory
Bootstrap is the same thing, with the accounts built in). A device with only a bootstrap
account waits the account's Client Hold Off Time (/0/x/11) for the bootstrap server to
start a Server Initiated Bootstrap, and then sends its own Bootstrap-Request (Client
Initiated Bootstrap), retried with back-off while it gets no answer.

Server Initiated Bootstrap: the bootstrap server sends Bootstrap Delete or a Bootstrap
Write of /0 without a request of the device. The device takes these from the peer its
bootstrap account names (by SMS: the number in /0/x/9 or a ``coap+sms`` URI, which the SMS
trust check lets in for the same reason), and then runs the same bootstrap session as
after its own request. After Bootstrap-Finish the Bootstrap-Server Account Timeout
(/0/x/12) starts; when it ends the bootstrap account is purged (0 or absent: kept).

:class:`BootstrapSchedule` is the timing rule, sans-IO (numbers in, delays out);
:class:`Smartcard` is the modelled card; :class:`BootstrapState` holds whether a session is
open and who opened it. The waits run on the ``sleep`` the client is given, so tests drive
them without real time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ...errors import DecodeError
from ..content import ContentFormat, decode_object, encode_payload
from ..exceptions import ConfigError
from ..remote import remote_msisdn, remote_uri
from .accounts import ServerAccount, Tree, account_numbers, check_security

__all__ = ["BootstrapSchedule", "BootstrapState", "Smartcard", "is_bootstrap_server", "speaks_for_session"]


@dataclass(frozen=True)
class BootstrapSchedule:
    """When to send Bootstrap-Requests: first after ``hold_off`` seconds (the bootstrap
    account's /0/x/11), then, while none is answered, again after ``first_retry`` seconds,
    doubling up to ``max_retry``, at most ``attempts`` requests in all (None: forever).
    A session the bootstrap server opened on its own (Server Initiated) that sees no
    command for ``session_timeout`` seconds is left, so that a bootstrap server that went
    away does not keep the device from its LwM2M servers. ``jitter`` (0 to 1) shortens each
    retry wait by up to that fraction, at random: a fleet that lost its bootstrap server at
    once does not come back in lockstep (the hold-off is the configured time, exactly)."""

    hold_off: float = 0.0
    first_retry: float = 2.0
    max_retry: float = 300.0
    attempts: Optional[int] = 8
    session_timeout: float = 300.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigError(f"bootstrap retry jitter {self.jitter} is not between 0 and 1")

    def delay_before(self, attempt: int, rand: Callable[[], float] = random.random) -> Optional[float]:
        """Seconds to wait before request number ``attempt`` (0-based), None when no
        further request is to be made. ``rand`` gives the jitter's numbers in [0, 1)."""
        if self.attempts is not None and attempt >= self.attempts:
            return None
        if attempt == 0:
            return max(0.0, self.hold_off)
        delay = min(self.max_retry, self.first_retry * 2.0 ** (attempt - 1))
        return delay * (1.0 - self.jitter * rand()) if self.jitter else delay


@dataclass
class Smartcard:
    """A simulated smartcard (UICC) with LwM2M bootstrap information.

    Modelled on LwM2M 1.0.2's smartcard provisioning: the card holds the bootstrap
    information as the content of a Bootstrap Write, i.e. LwM2M TLV of /0 (Security)
    instances and of /1 (Server) instances, which the device applies at start as a
    bootstrap server's writes. ``security`` and ``server`` are those two TLV documents
    (the form a card's file holds); :meth:`from_accounts` builds them."""

    security: bytes
    server: bytes

    @classmethod
    def from_accounts(cls, accounts: list[ServerAccount]) -> "Smartcard":
        """A card with these accounts: a bootstrap account at /0/0, the servers at /0/1,
        /0/2 ... and /1/0, /1/1 ..."""
        bootstrap = [a for a in accounts if a.bootstrap]
        servers = [a for a in accounts if not a.bootstrap]
        sec = {0: a.security_instance() for a in bootstrap[:1]}
        sec.update({i + 1: a.security_instance() for i, a in enumerate(servers)})
        srv = {i: a.server_instance() for i, a in enumerate(servers)}
        return cls(encode_payload((0,), sec, ContentFormat.TLV)[1], encode_payload((1,), srv, ContentFormat.TLV)[1])

    def instances(self, sms_modes: tuple[int, ...] = (3,)) -> tuple[dict[int, dict[int, Any]], dict[int, dict[int, Any]]]:
        """The /0 and /1 instances on the card; ConfigError if the card's content is
        unreadable or asks for a security mode that is not built."""
        try:
            security = decode_object(0, ContentFormat.TLV, self.security)
            server = decode_object(1, ContentFormat.TLV, self.server)
        except DecodeError as exc:
            raise ConfigError(f"smartcard: bootstrap information is not LwM2M TLV: {exc}") from None
        if not isinstance(security, dict) or not isinstance(server, dict) or not all(
                isinstance(inst, dict) for inst in (*security.values(), *server.values())):
            raise ConfigError("smartcard: bootstrap information holds no instances")
        for inst in security.values():
            check_security(inst, sms_modes)
        return security, server


@dataclass(slots=True)
class BootstrapState:
    """Whether a bootstrap session is open on the device and who opened it ("client" by
    its request, "server" by a command from the bootstrap server, "smartcard")."""

    active: bool = False
    initiated_by: Optional[str] = None
    peer: Optional[str] = None  # uri_base of the bootstrap server of the open session
    finished: Optional["asyncio.Future[None]"] = None
    commands: int = 0  # bootstrap commands served (a watchdog sees whether the session moves)
    completed: list[str] = field(default_factory=list)  # how each finished bootstrap began

    def waiter(self) -> "asyncio.Future[None]":
        """A future that the next Bootstrap-Finish resolves."""
        if self.finished is None or self.finished.done():
            self.finished = asyncio.get_running_loop().create_future()
        return self.finished

    def begin(self, initiated_by: str, peer: Optional[str] = None) -> None:
        self.active = True
        self.initiated_by = initiated_by
        self.peer = peer
        self.waiter()

    def finish(self) -> None:
        self.active = False
        self.completed.append(self.initiated_by or "?")
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    def end(self) -> None:
        """Leave bootstrap without Finish (the device gave up waiting)."""
        self.active = False


def speaks_for_session(state: BootstrapState, objects: Tree, remote: Any) -> bool:
    """Whether a command from ``remote`` belongs to the open bootstrap session: it comes
    from the peer that answered the Bootstrap-Request or opened the session, or from the
    peer the bootstrap account names."""
    return (state.peer is not None and remote_uri(remote) == state.peer) or is_bootstrap_server(objects, remote)


def is_bootstrap_server(objects: Tree, remote: Any) -> bool:
    """Whether ``remote`` is the peer the bootstrap account in /0 names: by SMS its number
    (/0/x/9 or a ``coap+sms`` URI), by UDP the host and port of its URI."""
    sender = remote_msisdn(remote)
    where = remote_uri(remote).rstrip("/").lower()
    for sec in objects.get(0, {}).values():
        if not sec.get(1):
            continue
        if sender is not None:
            if sender in account_numbers(sec):
                return True
        elif str(sec.get(0, "")).rstrip("/").lower() == where:
            return True
    return False
