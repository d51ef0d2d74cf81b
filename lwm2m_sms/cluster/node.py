"""One gateway node among several on one PostgreSQL database: the asyncio glue between the
SMS transports, the store's exchange and node tables (:mod:`lwm2m_sms.store.exchanges`),
the node bus (:mod:`lwm2m_sms.store.bus`) and the router. The decisions are
:mod:`.handoff`'s.

**Who owns what.** The node that sends a CoAP request by SMS owns its exchange; it writes
the row (peer, message ID, token, queued request id, expiry) before the SMS leaves
(:meth:`ClusterNode.sent`). An observation's row lives until the observation ends. The
SMSC gives an account's mobile-originated SMS to any of its binds, so the answer can reach
another node; that node's transport finds no exchange of its own and asks
:meth:`ClusterNode.unmatched`, before aiocoap's deduplication and before its Reset to an
unknown confirmable response. The owner, if alive, gets the octets with the sender's
number and ports over the bus (topic ``coap.handoff``) and takes them into its transport
as if its own bind had received them (:meth:`~lwm2m_sms.coap.SmsTransport.inject`): its
ACK to a separate response goes out on its own bind.

**What happens when an owner dies.** Its exchanges die with it (they were in its memory).
An answer that reaches another node meanwhile: for a request it sent from the queue, the
answer is that request's outcome and is written to the store under the dead node's name
(so it counts only while nobody has taken the request over: the queue's owner check), and
a confirmable response gets an empty ACK so the device stops waiting; anything else is
dropped and logged. Every ``check_interval`` seconds (on the gateway's clock, and at
start) each node asks which of the listed nodes hold their name on the bus
(:meth:`~lwm2m_sms.store.bus.NodeBus.alive_nodes`); for a dead one it takes its work over
in one transaction (:meth:`~lwm2m_sms.store.NodeTable.take_over`): GET, PUT and DELETE it
had on the wire are queued again and sent by whichever node the device is awake on (this
one at once if it is), a POST is failed "outcome unknown" and never sent twice. Of two
nodes that try at once, one does it (the ``nodes`` row lock).

**Hint or state.** Exchange rows and bus messages are hints: lost, they cost what a lost
SMS costs (the owner's request times out; a queued GET is sent again after a takeover).
The queue's rows are state, changed only in transactions with the owner's name. Liveness
is PostgreSQL's view of the node's session.

Bounds: a lookup (a database round trip) only for an answer from a number some
registration names (the router's trust gate runs first), at most ``burst`` then ``rate``
per second and ``in_flight`` at once per sender (:class:`~.handoff.HandoffLimiter`);
payloads past the bus's limit are not handed over; hand-offs received are taken
synchronously (no task per message).

Known limits: the queued request's id reaches the exchange row through a context variable
set around the router's send, so a request aiocoap holds back (NSTART 1) and sends later
from another task is recorded without it; its answer, if its owner dies, is dropped and
the request is taken over as if unanswered. Message IDs and tokens are not unique across
nodes: when two nodes own the same one for the same device, the answer is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON, RST

from ..bearer import InboundSms
from ..clock import SYSTEM_CLOCK, Clock
from ..errors import DecodeError, Lwm2mSmsError
from ..sms.address import parse_msisdn
from ..sms.udh import Ports
from ..store import RequestState, Store
from ..store.records import NO_DEADLINE
from ..tasks import cancel_and_wait
from ..store.bus import MAX_PAYLOAD, BusMessage, NodeBus
from ..routing.router import SENDING_QUEUED, Router
from . import handoff
from .handoff import Decision, HandoffLimiter, Verdict

if TYPE_CHECKING:
    from ..coap import SmsTransport

__all__ = ["ClusterNode", "ClusterSettings", "TOPIC"]

log = logging.getLogger(__name__)

TOPIC = "coap.handoff"


@dataclass
class ClusterSettings:
    """How a node watches the others and bounds hand-offs.

    * ``check_interval`` (2 s): how often the other nodes' liveness is checked (a dead
      node's work is taken over within about this time).
    * ``purge_interval`` (60 s): how often exchange rows past their expiry are deleted.
    * ``handoff_burst`` (20), ``handoff_rate`` (2/s), ``handoff_in_flight`` (4): lookups
      per sender (:class:`~.handoff.HandoffLimiter`).
    """

    check_interval: float = 2.0
    purge_interval: float = 60.0
    handoff_burst: int = 20
    handoff_rate: float = 2.0
    handoff_in_flight: int = 4


@dataclass
class ClusterStats:
    recorded: int = 0        #: exchange rows written (requests sent)
    lookups: int = 0         #: exchange rows looked up for an unknown answer
    handed_over: int = 0     #: answers posted to their owner
    received: int = 0        #: answers other nodes handed to this one
    outcomes: int = 0        #: a dead owner's queued request's outcome written here
    dropped: int = 0         #: answers dropped (dead owner, ambiguous, bus refused)
    refused: int = 0         #: not looked up: the sender's budget (limiter) or size
    unknown: int = 0         #: no node owns it: this node's CoAP layer had it
    taken_over: list[str] = field(default_factory=list)  #: nodes whose work this one took


class ClusterNode:
    """This node's part in a cluster (see the module docstring). :meth:`attach` (before
    the router takes any work), then :meth:`start`; :meth:`close` at the end."""

    def __init__(self, router: Router, bus: NodeBus, transports: "list[SmsTransport]", *,
                 settings: Optional[ClusterSettings] = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.router = router
        self.bus = bus
        self.node = bus.node
        self.transports = list(transports)
        self.settings = settings or ClusterSettings()
        self.clock = clock
        self.store: Store = router.queue.store
        self.stats = ClusterStats()
        self.limiter = HandoffLimiter(burst=self.settings.handoff_burst, rate=self.settings.handoff_rate,
                                      in_flight=self.settings.handoff_in_flight)
        self._max_octets = handoff.max_octets(MAX_PAYLOAD)
        self._task: Optional[asyncio.Task[None]] = None
        self._next_purge = 0.0

    # -- life -----------------------------------------------------------------------------

    def attach(self) -> None:
        """Join the node list (which forgets this name's old exchanges), hook the
        transports and listen for hand-offs. Synchronous, so nothing is taken between the
        join and the hooks."""
        self.store.nodes.join(self.node, self.clock.wall())
        for transport in self.transports:
            transport.exchange_hook = self
        self.bus.subscribe(TOPIC, self._on_handoff)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name=f"cluster {self.node}")

    async def close(self) -> None:
        for transport in self.transports:
            if transport.exchange_hook is self:
                transport.exchange_hook = None
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None

    # -- watching the others ----------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again next round
                log.exception("node %s: checking the other nodes failed", self.node)
            await self.clock.sleep(self.settings.check_interval)

    async def check(self) -> list[str]:
        """One round: which listed nodes are dead, and take over the work of each that
        nobody else has taken yet; delete expired exchange rows when due. Returns the
        nodes taken over by this call."""
        names = set(self.store.nodes.names())
        if self.node not in names and self.bus.listening:
            # Taken over while this node's listening connection was down (the others saw its
            # name free): listed again, or its work from now on would never be taken over.
            if self.store.nodes.listed(self.node, self.clock.wall()):
                log.warning("node %s: listed again; another node took over its work while its"
                            " listening connection was down", self.node)
        others = names - {self.node}
        alive = await self.bus.alive_nodes(others) if others else set()
        done = []
        for dead in sorted(others - alive):
            requests = self.router.queue.take_over(dead)
            if requests is None:
                continue  # another node did it, or it came back meanwhile
            done.append(dead)
            self.stats.taken_over.append(dead)
            requeued = sum(1 for r in requests if r.state is RequestState.QUEUED)
            log.warning("node %s: node %s is dead; took over its %d requests on the wire (%d queued"
                        " again, %d failed, outcome unknown)", self.node, dead, len(requests), requeued,
                        len(requests) - requeued)
            self.router.taken_over(requests)
        now = self.clock.now()
        if now >= self._next_purge:
            self._next_purge = now + self.settings.purge_interval
            purged = self.store.exchanges.purge(self.clock.wall()) + self._sweep_observations()
            if purged:
                log.info("node %s: %d expired exchange rows deleted", self.node, purged)
        return done

    def _sweep_observations(self) -> int:
        """Delete this node's observation rows that its CoAP layer no longer has: refused,
        answered without Observe, or ended with no notification since. They have no
        expiry, and no notification will come to release them."""
        live: set[tuple[str, bytes]] = set()
        for transport in self.transports:
            live |= transport.tokens_out()
        ended = 0
        for peer, token in self.store.exchanges.observations(self.node):
            if (peer, token) not in live:
                ended += self.store.exchanges.release(self.node, peer, token)
        return ended

    # -- ExchangeHook -----------------------------------------------------------------------

    def sent(self, transport: "SmsTransport", message: Message) -> None:
        """Record that this node owns ``message``'s exchange (a request going out)."""
        observe = message.opt.observe == 0
        lifetime = message.transport_tuning.EXCHANGE_LIFETIME
        try:
            self.store.exchanges.record(
                self.node, str(message.remote.msisdn), message.mid, message.token,
                request_id=SENDING_QUEUED.get(),
                expires=NO_DEADLINE if observe else self.clock.wall() + lifetime,
            )
        except Exception as exc:  # the SMS still goes; an answer another node gets is lost
            log.warning("to %s MID %s: exchange not recorded (%s); an answer that reaches another"
                        " node will be dropped", message.remote.msisdn, message.mid, exc)
            return
        self.stats.recorded += 1

    async def unmatched(self, transport: "SmsTransport", message: Message, sms: InboundSms) -> bool:
        is_answer_type = message.mtype is ACK or message.mtype is RST or message.code.is_response()
        if not is_answer_type:
            return False
        peer = str(sms.sender)
        if len(sms.payload) > self._max_octets:
            self.stats.refused += 1
            log.info("from %s MID %d: %d octets, too long to hand over; kept here", peer, message.mid,
                     len(sms.payload))
            return False
        why = self.limiter.admit(peer, self.clock.now())
        if why is not None:
            self.stats.refused += 1
            log.info("from %s MID %d: answer of no exchange here dropped without a lookup (%s)",
                     peer, message.mid, why)
            return True
        try:
            decision = await self._decide(peer, message)
        except Exception as exc:  # the store is away: as with one node
            log.warning("from %s MID %d: no exchange here and the owner cannot be looked up (%s)",
                        peer, message.mid, exc)
            return False
        finally:
            self.limiter.done(peer)
        return self._act(transport, decision, message, sms)

    async def _decide(self, peer: str, message: Message) -> Decision:
        now = self.clock.wall()
        self.stats.lookups += 1
        if message.mtype is ACK or message.mtype is RST:
            rows = self.store.exchanges.by_mid(peer, message.mid, now)
        else:
            rows = self.store.exchanges.by_token(peer, message.token, now)
        decision = handoff.by_owner(self.node, rows)
        if decision.verdict is Verdict.HAND_OVER:
            assert decision.owner is not None
            # Asked each time (one round trip, within the sender's budget): a hint from the
            # last check would hand a dead owner's answer to nobody instead of recording it.
            if not await self.bus.alive(decision.owner):
                is_answer = message.mtype is RST or message.code.is_response()
                decision = handoff.owner_dead(decision, is_answer=is_answer)
        return decision

    def _act(self, transport: "SmsTransport", decision: Decision, message: Message, sms: InboundSms) -> bool:
        peer, mid = str(sms.sender), message.mid
        verdict = decision.verdict
        if verdict is Verdict.MINE or verdict is Verdict.UNKNOWN:
            if verdict is Verdict.UNKNOWN:
                self.stats.unknown += 1
            if message.opt.observe is not None and message.code.is_response():
                self._release(peer, message.token)  # a notification of an observation that ended here
            log.info("from %s MID %d: %s; handled here", peer, mid, decision.reason)
            return False
        if verdict is Verdict.HAND_OVER:
            assert decision.owner is not None
            ports = (sms.ports.destination, sms.ports.source, sms.ports.wide) if sms.ports else None
            data = handoff.encode(handoff.Handoff(peer, ports, sms.payload))
            if self.bus.post(TOPIC, data, to=decision.owner):
                self.stats.handed_over += 1
                log.info("from %s MID %d: %s, handed over", peer, mid, decision.reason)
            else:
                self.stats.dropped += 1
                log.warning("from %s MID %d: %s, but the bus refused it; dropped", peer, mid, decision.reason)
            return True
        if verdict is Verdict.RECORD:
            assert decision.request_id is not None
            self._record(decision, message, peer)
            if message.mtype is CON:
                # The device waits for an ACK to its separate response; its owner cannot send it.
                ack = Message(code=Code.EMPTY, payload=b"")
                ack.mtype, ack.mid, ack.remote = ACK, mid, message.remote
                transport.send(ack)
            return True
        self.stats.dropped += 1
        log.info("from %s MID %d: %s; dropped", peer, mid, decision.reason)
        return True

    def _record(self, decision: Decision, message: Message, peer: str) -> None:
        assert decision.request_id is not None
        if message.mtype is RST:
            state, code, detail = RequestState.FAILED, None, f"Reset by the device (answer reached node {self.node})"
        else:
            state, code, detail = RequestState.ANSWERED, int(message.code), ""
        cf = message.opt.content_format
        # The whole answer goes into the row: the caller may wait on a third node (routing.fleet).
        changed = self.store.requests.mark(decision.request_id, state, response_code=code, detail=detail,
                                           owner=decision.owner, response_payload=message.payload,
                                           response_format=int(cf) if cf is not None else None)
        if changed:
            self.stats.outcomes += 1
            if state is RequestState.ANSWERED:
                self.router.answered_elsewhere(decision.request_id, message)
            else:
                self.router.outcome_recorded(decision.request_id)
            log.warning("from %s MID %d: %s: recorded %s %s", peer, message.mid, decision.reason,
                        state.value, message.code)
        else:
            self.stats.dropped += 1
            log.info("from %s MID %d: %s, already taken over; not recorded", peer, message.mid, decision.reason)

    def _release(self, peer: str, token: bytes) -> None:
        try:
            self.store.exchanges.release(self.node, peer, token)
        except Exception as exc:
            log.warning("from %s: observation row not released (%s)", peer, exc)

    # -- hand-offs from the others ----------------------------------------------------------

    def _on_handoff(self, bus_message: BusMessage) -> None:
        try:
            h = handoff.decode(bus_message.data)
            sender = parse_msisdn(h.sender)
            ports = Ports(*h.ports) if h.ports is not None else None
        except (DecodeError, Lwm2mSmsError) as exc:
            log.warning("node %s: a hand-off from node %s that is not one (%s)", self.node, bus_message.sender, exc)
            return
        self.stats.received += 1
        sms = InboundSms(sender, h.payload, ports=ports)
        transport, message = self._transport_for(sms)
        if transport is None:
            log.warning("from %s: handed over by node %s, but this node has no SMS transport", h.sender,
                        bus_message.sender)
            return
        if message is not None and not transport.knows(message):
            log.info("from %s MID %d: handed over by node %s, but its exchange has ended here", h.sender,
                     message.mid, bus_message.sender)
            if message.opt.observe is not None and message.code.is_response():
                self._release(h.sender, message.token)  # the observation ended here
        else:
            log.info("from %s: an answer handed over by node %s", h.sender, bus_message.sender)
        transport.inject(sms)  # as if this node's bind had received it (a Reset if it is stale)

    def _transport_for(self, sms: InboundSms) -> "tuple[Optional[SmsTransport], Optional[Message]]":
        """The transport whose CoAP layer knows the exchange (else the first), and the
        message decoded for it (None: not CoAP; the transport drops it)."""
        if not self.transports:
            return None, None
        from ..coap import SmsAddress

        try:
            message = Message.decode(sms.payload)
        except Exception:  # aiocoap's decoders raise more than their own error
            return self.transports[0], None
        for transport in self.transports:
            message.remote = SmsAddress(sms.sender, transport, ports=sms.ports)
            if transport.knows(message):
                return transport, message
        message.remote = SmsAddress(sms.sender, self.transports[0], ports=sms.ports)
        return self.transports[0], message
