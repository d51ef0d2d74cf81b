"""CoAP over SMS as an aiocoap message-layer transport, over any :class:`~lwm2m_sms.bearer.Bearer`.

One CoAP message in its RFC 7252 binary form is the payload of one 8-bit SMS (the LwM2M SMS
binding); the bearer concatenates it over several SMS when it is longer than 140 octets and
reassembles what comes in. This module is aiocoap's ``udp6`` with the socket replaced by a
bearer: :func:`add_sms_transport` wires a TokenManager, a MessageManager and an
:class:`SmsTransport` into a :class:`aiocoap.Context` exactly as aiocoap wires udp6, so
CON/ACK, message IDs, deduplication, piggybacking, tokens, observe and block-wise are
aiocoap's own code. What the SMS transport adds:

* SMS timing on every message (:mod:`.settings`): aiocoap's MessageManager starts the
  retransmission timer before it hands a message to the transport, so a small subclass,
  :class:`SmsMessageManager`, puts the transport's tuning on each outgoing message first
  (responses and notifications built by a resource otherwise carry UDP's 2 s).
* Addresses by MSISDN (:mod:`.address`) and the ``coap+sms`` scheme (:mod:`.uri`).
* Bearer failures as aiocoap errors: a send the bearer refuses, or whose outcome is FAILED,
  is reported with ``MessageManager.dispatch_error`` (as udp6 reports ICMP errors), which
  fails the requests to that peer with :class:`SmsSendError` instead of leaving them to
  time out.
* A trust hook (:attr:`SmsTransport.accept_filter`), a drop of SMS payloads that are not
  CoAP, and counters (:meth:`SmsTransport.stats`), logged at shutdown.
* An exchange hook (:attr:`SmsTransport.exchange_hook`, :class:`ExchangeHook`) for several
  nodes behind one SMSC account: it hears of every request sent and gets first look at an
  answer this node's CoAP layer does not know (:mod:`lwm2m_sms.cluster`);
  :meth:`SmsTransport.inject` takes an answer another node handed over.

Known limits: NSTART is aiocoap's 1, so with the default one-shot CON and its 60 s wait a
lost SMS holds back further CONs to that peer until the wait ends. aiocoap keeps partial
block-wise transfers for 93 s after the last block, independent of these settings. A peer
that answers a port-addressed SMS without ports is not matched to the request.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import Callable, Protocol

from aiocoap import Context, Message, error, interfaces
from aiocoap.numbers import TransportTuning
from aiocoap.numbers.types import ACK, CON, RST

from ..bearer import Bearer, DeliveryOutcome, DeliveryState, InboundSms
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import AddressError, BearerError
from ..sms.address import Address
from .address import SmsAddress
from .messagemanager import CompactMessageManager
from .observe import ResetUnknownNotifications
from .settings import SmsSettings, SmsTuning
from .stats import Counters, TransportStats
from .uri import SCHEME, parse_sms_peer

__all__ = [
    "SmsTransport",
    "SmsMessageManager",
    "SmsSendError",
    "AcceptFilter",
    "ExchangeHook",
    "add_sms_transport",
]

log = logging.getLogger(__name__)

_PEERS_LOGGED = 20  # per-peer counter lines logged at INFO on shutdown

#: ``accept_filter(remote, message) -> bool``: False drops the message silently.
AcceptFilter = Callable[[SmsAddress, Message], bool]


class ExchangeHook(Protocol):
    """Several gateway nodes behind one SMSC account (:mod:`lwm2m_sms.cluster`): the
    transport tells the hook of every request it sends, and asks it about every ACK,
    Reset or response its CoAP layer does not know (:meth:`SmsTransport.knows`) before
    aiocoap sees it (deduplication, the Reset to an unknown confirmable response)."""

    def sent(self, transport: "SmsTransport", message: Message) -> None:
        """``message`` (a request, with its message ID and token) goes out now. Must not block long."""

    async def unmatched(self, transport: "SmsTransport", message: Message, sms: InboundSms) -> bool:
        """True: the hook took ``message`` (handed it to another node, or dropped it);
        False: this transport's CoAP layer gets it, as without the hook."""
        ...


class SmsSendError(error.NetworkError, BearerError):
    """The bearer refused an SMS or reported it undelivered. An aiocoap NetworkError (what
    aiocoap promises request callers) and a project BearerError at once."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def __str__(self) -> str:
        return f"SMS error: {self.detail}"


class SmsMessageManager(ResetUnknownNotifications, CompactMessageManager):
    """aiocoap's MessageManager with SMS timing on every outgoing message, the compact
    deduplication memory of :class:`~.messagemanager.CompactMessageManager`, keyed by
    MSISDN, ports and message ID, and a Reset for a NON notification nobody waits for (see
    :mod:`.observe`). Everything else (CON/ACK, piggybacking, backlog) is aiocoap's."""

    message_interface: "SmsTransport"

    def send_message(self, message, messageerror_monitor):
        # Must happen before MessageManager starts the retransmission timer of a CON.
        message.transport_tuning = self.message_interface.tuning_for(message.transport_tuning)
        return super().send_message(message, messageerror_monitor)

    def dedup_key(self, remote, mid):
        return _dedup_key(remote, mid)

    def on_duplicate(self, message, response):
        self.message_interface.on_duplicate(message, response)


class SmsTransport(interfaces.MessageInterface):
    """The aiocoap MessageInterface over one bearer. Build it with :func:`add_sms_transport`.

    ``accept_filter``, when set, sees every incoming CoAP message (with its
    :class:`SmsAddress`) before aiocoap does; a False drops it silently (no reply SMS),
    with a log line and the ``dropped_untrusted`` counter. It must not block.
    """

    def __init__(
        self, mman: SmsMessageManager, bearer: Bearer, settings: SmsSettings | None = None
    ) -> None:
        self._mman: SmsMessageManager | None = mman
        self.bearer = bearer
        self.settings = settings or SmsSettings()
        self.tuning = self.settings.tuning()
        self.accept_filter: AcceptFilter | None = None
        self.exchange_hook: ExchangeHook | None = None
        self._total = Counters()
        self._peers: dict[str, Counters] = {}
        self._sending: set[asyncio.Task] = set()
        self._recent = mman.recent  # stays readable for stats() after shutdown

    def __repr__(self) -> str:
        return f"<SmsTransport {self.bearer.kind} {self.local_msisdn}>"

    # -- public helpers -----------------------------------------------------------------

    @property
    def local_msisdn(self) -> Address | None:
        """The bearer's own number (the ``hostinfo_local`` of every address)."""
        return self.bearer.local_address

    def address_for(self, peer: str | Address) -> SmsAddress:
        """An address for ``peer`` in any form :func:`~lwm2m_sms.coap.uri.parse_sms_peer`
        takes (``+N``, bare digits, ``tel:+N``, ``sms:+N``, ``coap+sms://+N``). Assign it
        to ``message.remote`` to send through this transport without a URI host."""
        ports = self.settings.ports.swapped() if self.settings.ports is not None else None
        return SmsAddress(parse_sms_peer(peer), self, ports=ports)

    def stats(self) -> TransportStats:
        """A snapshot of the counters, total and per peer."""
        snap = TransportStats(Counters(), {})
        snap.total.add(self._total)
        snap.total.dedup_evicted = self._recent.evicted
        for peer, c in self._peers.items():
            snap.per_peer[peer] = Counters()
            snap.per_peer[peer].add(c)
        return snap

    def peer_stats(self, peer: str) -> Counters:
        """A copy of one peer's counters (``+N``; zeros for a peer never seen): O(1), where
        :meth:`stats` copies every peer's."""
        snap = Counters()
        c = self._peers.get(peer)
        if c is not None:
            snap.add(c)
        return snap

    def tuning_for(self, tuning: TransportTuning) -> TransportTuning:
        """The tuning an outgoing message gets: SMS timing, keeping the reliability a
        message asked for (``aiocoap.Reliable`` / ``Unreliable``). A message that brings
        an SmsTuning or a tuning class of its own keeps it."""
        if isinstance(tuning, type) and issubclass(tuning, TransportTuning):
            tuning = tuning()  # aiocoap.Reliable / Unreliable given as the class
        if isinstance(tuning, SmsTuning):
            return tuning
        if type(tuning) is TransportTuning or tuning.__class__.__module__.startswith("aiocoap."):
            if tuning.reliability is None:
                return self.tuning
            return self.tuning.with_reliability(tuning.reliability)
        return tuning

    # -- MessageInterface ---------------------------------------------------------------

    async def determine_remote(self, message) -> SmsAddress | None:
        if message.requested_scheme != SCHEME:
            return None
        if self._mman is None:
            raise error.LibraryShutdown()
        hostinfo = message.remote.hostinfo if message.remote is not None else None
        hostinfo = hostinfo or message.opt.uri_host
        try:
            msisdn = parse_sms_peer(urllib.parse.unquote(hostinfo or ""))
        except AddressError as exc:
            raise error.ResolutionError(f"{hostinfo!r} is not an MSISDN: {exc}") from exc
        if message.opt.uri_host is not None:
            # The peer's number is the default host of a coap+sms URI (as the IP literal is
            # for coap://): no need to spend 10 to 16 octets of each SMS on a Uri-Host.
            try:
                if parse_sms_peer(urllib.parse.unquote(message.opt.uri_host)) == msisdn:
                    message.opt.uri_host = None
            except AddressError:
                pass
        remote = self.address_for(msisdn)
        wanted = getattr(message.remote, "maximum_block_size_exp", remote.maximum_block_size_exp)
        if wanted < remote.maximum_block_size_exp:
            remote.maximum_block_size_exp = wanted
        return remote

    async def recognize_remote(self, remote) -> bool:
        return isinstance(remote, SmsAddress) and remote.transport is self

    def send(self, message) -> None:
        remote: SmsAddress = message.remote
        if self._mman is None:
            log.info("to %s MID %s: not sent, transport shut down", remote.msisdn, message.mid)
            return
        data = message.encode()
        if len(data) > self.settings.max_message_size:
            c = self._peer(remote)
            for counters in (self._total, c):
                counters.dropped_too_large += 1
            self._fail(
                remote,
                message.mid,
                f"CoAP message of {len(data)} octets exceeds max_message_size "
                f"{self.settings.max_message_size}",
            )
            return
        hook = self.exchange_hook
        if hook is not None and message.code.is_request():
            hook.sent(self, message)  # before the SMS leaves: its answer may reach another node
        self._start_send(remote, message.mid, data)

    def _start_send(self, remote: SmsAddress, mid: int, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self._send(remote, mid, data))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def shutdown(self) -> None:
        # Only unhook ourselves: a router may have put its own receiver in front.
        if getattr(self.bearer, "_handler", None) == self.handle_sms:
            self.bearer.set_receiver(None)
        self._mman = None
        if self._sending:
            # Sends already handed to the bearer finish (they only wait for acceptance).
            await asyncio.wait(list(self._sending), timeout=2.0)
        log.info("coap+sms on %s shut down: %s", self.local_msisdn, self.stats().summary())
        # A line per peer, but not 100,000 of them for a fleet: the first few at INFO, the
        # rest at DEBUG only.
        debug = log.isEnabledFor(logging.DEBUG)
        for i, (peer, c) in enumerate(self._peers.items()):
            if i < _PEERS_LOGGED or debug:
                log.log(logging.INFO if i < _PEERS_LOGGED else logging.DEBUG,
                        "coap+sms on %s peer %s: %s", self.local_msisdn, peer, c.nonzero())
            else:
                log.info("coap+sms on %s: %d more peers (at DEBUG)", self.local_msisdn,
                         len(self._peers) - _PEERS_LOGGED)
                break

    # -- sending ------------------------------------------------------------------------

    async def _send(self, remote: SmsAddress, mid: int, data: bytes) -> None:
        try:
            sub = await self.bearer.send(
                remote.msisdn, data, ports=remote.reply_ports(), report=self.settings.report
            )
        except (BearerError, AddressError, ValueError) as exc:
            # ValueError covers EncodeError/PayloadTooLarge: the bearer could not take it.
            self._fail(remote, mid, f"bearer refused: {exc}")
            return
        except Exception as exc:  # a bug or an I/O error below: fail the request, say why
            log.exception("to %s MID %s: the bearer raised", remote.msisdn, mid)
            self._fail(remote, mid, f"bearer error: {exc!r}")
            return
        c = self._peer(remote)
        for counters in (self._total, c):
            counters.messages_sent += 1
            counters.sms_sent += sub.segments
            counters.bytes_sent += len(data)
        log.debug("to %s MID %d: %d octets in %d SMS (%s)", remote.msisdn, mid, len(data), sub.segments, sub.message_id)
        if sub.outcome.done():
            self._on_outcome(remote, mid, sub.outcome)
        else:
            sub.outcome.add_done_callback(lambda fut: self._on_outcome(remote, mid, fut))

    def _on_outcome(self, remote: SmsAddress, mid: int, fut: asyncio.Future[DeliveryOutcome]) -> None:
        if fut.cancelled():
            return
        outcome = fut.result()
        if outcome.state is DeliveryState.FAILED:
            self._fail(remote, mid, f"SMS {outcome.message_id} not delivered: {outcome.detail}")

    def _fail(self, remote: SmsAddress, mid: int | None, detail: str) -> None:
        for counters in (self._total, self._peer(remote)):
            counters.failures += 1
        log.warning("to %s MID %s: %s", remote.msisdn, mid, detail)
        mman = self._mman
        if mman is None:
            return
        # Asynchronously, as udp6's error_received: send() is called from inside the
        # MessageManager, which must finish registering the exchange first.
        asyncio.get_running_loop().call_soon(
            self._dispatch_error, SmsSendError(f"to {remote.msisdn}: {detail}"), remote, mid
        )

    def _dispatch_error(self, exc: Exception, remote: SmsAddress, mid: int | None) -> None:
        # aiocoap's dispatch_error fails every exchange with the peer (as an ICMP error
        # would). Only a CON that still waits for its ACK is worth that: a late FAILED
        # report for a message long answered, or for a response or NON, must not cancel
        # whatever else runs with that peer now.
        mman = self._mman
        if mman is None or mman._active_exchanges is None:
            return
        if mid is not None and (remote, mid) not in mman._active_exchanges:
            log.info("to %s MID %s: failure reported after the exchange ended; nothing to fail", remote.msisdn, mid)
            return
        mman.dispatch_error(exc, remote)

    # -- receiving ----------------------------------------------------------------------

    async def handle_sms(self, sms: InboundSms) -> None:
        """The bearer's receive handler (set by :func:`add_sms_transport`): one whole SMS
        payload. Call it yourself when something else owns the bearer's receiver and hands
        CoAP payloads on."""
        message = self._take(sms)
        if message is None:
            return
        hook = self.exchange_hook
        if hook is not None and not self.knows(message) and await hook.unmatched(self, message, sms):
            return  # another node's answer, handed over or dropped by the hook
        if self._mman is not None:
            self._mman.dispatch_message(message)

    def inject(self, sms: InboundSms) -> bool:
        """Take ``sms`` as if the bearer had received it, but never give it to the
        :attr:`exchange_hook` (another node handed it over: it is this node's). False if
        it was dropped (not CoAP, untrusted, shut down)."""
        try:
            message = self._take(sms)
        except BearerError:
            return False
        if message is None or self._mman is None:
            return False
        self._mman.dispatch_message(message)
        return True

    def knows(self, message: Message) -> bool:
        """Whether this transport's CoAP layer has the exchange an incoming ``message``
        belongs to: an ACK or Reset by its message ID, a response by its token. Requests
        and pings are always its own."""
        mman = self._mman
        if mman is None or mman._active_exchanges is None:
            return True
        if message.mtype is ACK or message.mtype is RST:
            if (message.remote, message.mid) in mman._active_exchanges:
                return True
            if message.mtype is RST or not message.code.is_response():
                return False
        elif not message.code.is_response():
            return True
        outgoing = mman.token_manager.outgoing_requests
        return outgoing is not None and (message.token, message.remote) in outgoing

    def tokens_out(self) -> set[tuple[str, bytes]]:
        """``(+N, token)`` of every request this transport's CoAP layer still waits for an
        answer to, observations included (what :meth:`knows` finds a response by)."""
        mman = self._mman
        outgoing = mman.token_manager.outgoing_requests if mman is not None else None
        if not outgoing:
            return set()
        return {(str(remote.msisdn), bytes(token)) for token, remote in outgoing
                if isinstance(remote, SmsAddress)}

    def _take(self, sms: InboundSms) -> Message | None:
        """Decode, trust-check and count one received payload; None if it is dropped."""
        remote = SmsAddress(sms.sender, self, ports=sms.ports)
        # Per-peer counters only for peers whose message is taken: garbage and untrusted
        # senders are counted in the total alone, so they cannot grow the per-peer map.
        self._total.sms_received += sms.segments
        self._total.bytes_received += len(sms.payload)
        if self._mman is None:
            # Shut down: refuse, so the bearer leaves the SMS with the network for a retry.
            raise BearerError(f"coap+sms on {self.local_msisdn} is shut down")
        try:
            message = Message.decode(sms.payload, remote=remote)
        except Exception as exc:  # aiocoap's option decoders raise more than UnparsableMessage
            self._total.dropped_garbage += 1
            log.warning(
                "from %s: dropped %d octets that are not a CoAP message (%s)",
                sms.sender, len(sms.payload), exc,
            )
            return None
        accept = self.accept_filter
        if accept is not None:
            try:
                accepted = accept(remote, message)
            except Exception:
                log.exception("from %s MID %d: accept_filter raised; dropping", sms.sender, message.mid)
                accepted = False
            if not accepted:
                self._total.dropped_untrusted += 1
                log.info("from %s MID %d: dropped by accept_filter (untrusted)", sms.sender, message.mid)
                return None
        c = self._peer(remote)
        c.sms_received += sms.segments
        c.bytes_received += len(sms.payload)
        for counters in (self._total, c):
            counters.messages_received += 1
        message.transport_tuning = self.tuning
        log.debug("from %s MID %d: %r", sms.sender, message.mid, message)
        return message

    def on_duplicate(self, message: Message, stored: bytes) -> None:
        """A duplicate of an incoming request (an SMSC retry; RFC 7252 4.5), found by the
        MessageManager: counted and, when it is a CON that was answered, answered again
        with the same octets (``stored``: the first response, ``b""`` if none yet)."""
        remote: SmsAddress = message.remote
        for counters in (self._total, self._peer(remote)):
            counters.duplicates += 1
        if message.mtype is CON and stored and self._mman is not None:
            log.info("from %s MID %d: duplicate, answered again with the first response", remote.msisdn, message.mid)
            self._start_send(remote, message.mid, stored)
        else:
            log.info("from %s MID %d: duplicate, not processed again", remote.msisdn, message.mid)

    def _peer(self, remote: SmsAddress) -> Counters:
        key = str(remote.msisdn)
        c = self._peers.get(key)
        if c is None:
            if len(self._peers) >= self.settings.peer_stats:
                return Counters()  # bounded: past the limit a peer is counted in the total only
            c = self._peers[key] = Counters()
        return c


def _dedup_key(remote: SmsAddress, mid: int) -> int:
    # One int instead of a (remote, mid) tuple: the peer's number and ports as text, packed
    # with the 16-bit MID. Injective (distinct texts give distinct ints; ':' separates).
    ports = remote.ports
    peer = f"{remote.msisdn}:{ports.destination}:{ports.source}" if ports is not None else str(remote.msisdn)
    return int.from_bytes(peer.encode(), "big") << 16 | mid


async def add_sms_transport(
    ctx: Context, bearer: Bearer, settings: SmsSettings | None = None, clock: Clock = SYSTEM_CLOCK,
) -> SmsTransport:
    """Serve and send CoAP over ``bearer`` in ``ctx`` (a server or a client context), next
    to whatever transports it already has. The bearer must be started before messages
    flow; it stays the caller's to close (after ``ctx.shutdown()``). The transport becomes
    the bearer's receiver."""
    from aiocoap.tokenmanager import TokenManager

    # The same wiring as aiocoap's Context._append_tokenmanaged_messagemanaged_transport,
    # spelled out because it does not hand back the transport.
    tman = TokenManager(ctx)
    settings = settings or SmsSettings()
    mman = SmsMessageManager(tman, lifetime=settings.tuning().EXCHANGE_LIFETIME,
                             max_entries=settings.dedup_entries, clock=clock)
    transport = SmsTransport(mman, bearer, settings)
    mman.message_interface = transport
    tman.token_interface = mman
    ctx.request_interfaces.append(tman)
    bearer.set_receiver(transport.handle_sms)
    return transport
