"""What reaches a simulated device: the SMS trust check and the queue-mode radio.

Trust (LwM2M 1.0.2 SMS channel security, DESIGN: trust): a device drops every SMS that
does not come from a number one of its accounts in /0 names (/0/x/9, or a ``coap+sms``
server URI) -- its LwM2M servers and its bootstrap server. This is the one trust check of
the client. It runs as the SMS transport's ``accept_filter``, below aiocoap's message
layer, so a dropped SMS gets nothing back (no ACK, no RST); it reads /0 at each SMS, so a
bootstrap that writes new numbers takes effect at once. :meth:`SmsTrust.account_for` is
the place where a per-account check (SMS security mode, /0/x/6) hooks in.

Queue mode (binding with Q): the device is online from each message it sends or receives
until ``queue_window`` seconds after it; while asleep its radio is off. aiocoap's udp6
transport has no receive hook, so :func:`install_sleep_gate` wraps the ``dispatch_message``
of each message manager: a request that arrives while the device sleeps on that transport
is dropped before the message layer sees it (not even an ACK), which is what a sleeping
device looks like to a server. Which transports sleep: UDP in UQ and UQS, SMS in SQ (in
UQS the SMS side always listens: it is the wake-up path).
"""

from __future__ import annotations

from collections.abc import MutableMapping

import logging
from typing import Any, Callable, Optional

import aiocoap
from aiocoap import Message
from aiocoap.messagemanager import MessageManager

from ...coap import SmsTransport
from ...sms.address import Address
from ..binding import Binding
from ..remote import remote_msisdn, remote_uri
from .accounts import Tree, account_numbers

__all__ = ["SmsTrust", "QueueWindow", "install_sleep_gate", "install_sms_trust"]

log = logging.getLogger(__name__)


class SmsTrust:
    """The device's SMS trust rule over its object tree; drops are counted in ``stats``
    (key ``dropped_untrusted``)."""

    __slots__ = ("objects", "endpoint", "stats")

    def __init__(self, objects: Tree, endpoint: str, stats: "MutableMapping[str, int]"):
        self.objects = objects
        self.endpoint = endpoint
        self.stats = stats

    def trusted_numbers(self) -> set[Address]:
        return {n for sec in self.objects.get(0, {}).values() for n in account_numbers(sec)}

    def account_for(self, sender: Address) -> Optional[dict[int, Any]]:
        """The Security instance whose number ``sender`` is, or None."""
        for sec in self.objects.get(0, {}).values():
            if sender in account_numbers(sec) and isinstance(sec, dict):  # /0 instances are dicts
                return sec
        return None

    def known(self, sender: Address) -> bool:
        """Whether an account names ``sender`` (the bearer's reassembly trust: parts from
        other numbers never evict this device's parts)."""
        return self.account_for(sender) is not None

    def accepts(self, sender: Address, message: Message) -> bool:
        account = self.account_for(sender)
        if account is None:
            self.stats["dropped_untrusted"] += 1
            log.warning("ep=%s dropped SMS %s mid=%s from %s: not a server's number", self.endpoint,
                        message.code, message.mid, sender)
            return False
        return self.protected_as_configured(account, message)

    def protected_as_configured(self, account: dict[int, Any], message: Message) -> bool:
        """Whether ``message`` is protected as the account's SMS security mode (/0/x/6)
        asks. The SMS security layer sits under the transport (lwm2m_sms.security,
        ``SecureBearer``): what reaches this filter was already unprotected there, or
        dropped there when not protected as configured; nothing is left to check here."""
        return True

    def accept_filter(self, remote: Any, message: Message) -> bool:
        """The SMS transport's ``accept_filter``."""
        sender = remote_msisdn(remote)
        return sender is not None and self.accepts(sender, message)


class QueueWindow:
    """Queue-mode online window on the injectable ``clock``: ``binding()`` is read at each
    message, so a Write of /1/x/7 changes it at once."""

    __slots__ = ("binding", "clock", "window", "endpoint", "stats", "_awake_until")

    def __init__(self, binding: Callable[[], str], clock: Callable[[], float], window: float,
                 endpoint: str, stats: "MutableMapping[str, int]"):
        self.binding = binding
        self.clock = clock
        self.window = window
        self.endpoint = endpoint
        self.stats = stats
        self._awake_until = float("inf")

    def awake(self) -> bool:
        return "Q" not in self.binding() or self.clock() < self._awake_until

    def activity(self) -> None:
        """A message was sent or received: online for another window."""
        self._awake_until = self.clock() + self.window

    def queued_on(self, mman: MessageManager) -> bool:
        binding = Binding.parse(self.binding())
        return binding.sms_queued if isinstance(mman.message_interface, SmsTransport) else binding.udp_queued

    def accepts(self, message: Message, *, queued: Optional[bool] = None) -> bool:
        """Whether a request gets in: not while the device sleeps on a transport its
        binding queues (``queued``; default: the binding has Q)."""
        if queued is None:
            queued = "Q" in self.binding()
        if queued and not self.awake():
            self.stats["dropped_asleep"] += 1
            log.info("ep=%s asleep: dropped %s mid=%s from %s", self.endpoint, message.code, message.mid,
                     remote_uri(message.remote))
            return False
        return True


def install_sleep_gate(context: aiocoap.Context, window: QueueWindow) -> None:
    """Drop requests that reach a sleeping device, in front of each message manager."""
    for ri in context.request_interfaces:
        mman = getattr(ri, "token_interface", None)
        if not isinstance(mman, MessageManager):
            continue
        original = mman.dispatch_message

        def gated(message: Message, original: Callable[[Message], Any] = original,
                  mman: MessageManager = mman) -> Any:
            if message.code.is_request() and not window.accepts(message, queued=window.queued_on(mman)):
                return None
            return original(message)

        mman.dispatch_message = gated


def install_sms_trust(context: aiocoap.Context, trust: SmsTrust) -> None:
    """Make ``trust`` the ``accept_filter`` of every SMS transport of ``context``."""
    for ri in context.request_interfaces:
        mi = getattr(getattr(ri, "token_interface", None), "message_interface", None)
        if isinstance(mi, SmsTransport):
            mi.accept_filter = trust.accept_filter
