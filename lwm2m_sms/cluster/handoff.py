"""What to do with a CoAP answer that reached the wrong node (sans-IO: plain values in,
a decision out; no asyncio, no database).

A node gets by SMS an ACK, a Reset or a response that its own CoAP layer does not know.
From the rows of the exchange table that match it (:mod:`lwm2m_sms.store.exchanges`) and,
when another node owns it, whether that node is alive, :func:`by_owner` and
:func:`owner_dead` decide:

========== =====================================================================
MINE       this node owns it (its exchange ended meanwhile): its own CoAP layer
           has it, as with one node
UNKNOWN    no live row: its own CoAP layer has it, as with one node (a Reset for an
           unknown confirmable response, nothing for an ACK)
HAND_OVER  another live node owns it: post the octets to that node
RECORD     the owner is dead and it sent a queued request: the answer is that
           request's outcome, written to the store under the dead owner's name
DROP       the owner is dead and nobody waits (or the rows disagree): logged only
========== =====================================================================

:class:`HandoffLimiter` bounds the work an untrusted sender can cause: each lookup costs a
database round trip, so a sender gets ``burst`` of them and then ``rate`` per second (a
token bucket), and at most ``in_flight`` at once; past either its answers are dropped
(an honest device sends one answer per request it got). The envelope that carries the
octets over the bus is :func:`encode` / :func:`decode`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol

from ..errors import DecodeError

__all__ = [
    "Verdict", "Decision", "by_owner", "owner_dead", "HandoffLimiter", "Handoff", "encode", "decode",
    "max_octets",
]


class Verdict(enum.Enum):
    MINE = "mine"
    UNKNOWN = "unknown"
    HAND_OVER = "hand over"
    RECORD = "record"
    DROP = "drop"


class Row(Protocol):
    """What a decision needs of an exchange row."""

    @property
    def owner(self) -> str: ...

    @property
    def request_id(self) -> Optional[int]: ...


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    owner: Optional[str] = None
    request_id: Optional[int] = None
    reason: str = ""


def by_owner(node: str, rows: Iterable[Row]) -> Decision:
    """Who owns it, from the live rows that match (this node is ``node``)."""
    rows = list(rows)
    owners = sorted({r.owner for r in rows})
    if not owners:
        return Decision(Verdict.UNKNOWN, reason="no node owns it")
    if len(owners) > 1:
        # Two nodes' aiocoap picked the same message ID or token for one peer: giving it
        # to the wrong one would complete the wrong request.
        return Decision(Verdict.DROP, reason=f"owned by {', '.join(owners)} at once; cannot tell whose")
    owner = owners[0]
    if owner == node:
        return Decision(Verdict.MINE, owner, reason="this node's, its exchange has ended")
    ids = {r.request_id for r in rows if r.request_id is not None}
    return Decision(Verdict.HAND_OVER, owner, ids.pop() if len(ids) == 1 else None,
                    reason=f"owned by node {owner!r}")


def owner_dead(decision: Decision, *, is_answer: bool) -> Decision:
    """The owner of a HAND_OVER decision is dead. ``is_answer``: the message carries the
    request's outcome (a response, or a Reset: the device refused it), not an empty ACK."""
    if decision.request_id is not None and is_answer:
        return Decision(Verdict.RECORD, decision.owner, decision.request_id,
                        reason=f"node {decision.owner!r} is dead; queued #{decision.request_id}'s outcome")
    return Decision(Verdict.DROP, decision.owner, decision.request_id,
                    reason=f"node {decision.owner!r} is dead and nobody waits for it")


class HandoffLimiter:
    """Per-sender budget of lookups (see the module docstring); time in seconds from the
    caller (monotonic). At most ``max_senders`` senders are tracked: past that an idle
    one is forgotten (it starts again with a full bucket), and with none idle a new
    sender is refused."""

    __slots__ = ("burst", "rate", "in_flight", "max_senders", "_state")

    def __init__(self, *, burst: int = 20, rate: float = 2.0, in_flight: int = 4,
                 max_senders: int = 100_000) -> None:
        if burst < 1 or rate < 0 or in_flight < 1 or max_senders < 1:
            raise ValueError("burst, in_flight and max_senders must be positive, rate not negative")
        self.burst, self.rate, self.in_flight, self.max_senders = burst, rate, in_flight, max_senders
        # sender -> [tokens, time of the last refill, lookups in flight]
        self._state: dict[str, list[float]] = {}

    def admit(self, sender: str, now: float) -> Optional[str]:
        """None: go ahead (counted in flight until :meth:`done`); else why not."""
        state = self._state.get(sender)
        if state is None:
            if len(self._state) >= self.max_senders and not self._forget_one_idle():
                return f"{self.max_senders} senders have lookups in flight"
            state = self._state[sender] = [float(self.burst), now, 0]
        tokens = min(float(self.burst), state[0] + (now - state[1]) * self.rate)
        state[1] = now
        if state[2] >= self.in_flight:
            state[0] = tokens
            return f"{self.in_flight} lookups in flight for this sender"
        if tokens < 1:
            state[0] = tokens
            return f"over {self.burst} lookups then {self.rate:g}/s for this sender"
        state[0] = tokens - 1
        state[2] += 1
        return None

    def done(self, sender: str) -> None:
        state = self._state.get(sender)
        if state is not None and state[2] > 0:
            state[2] -= 1

    def __len__(self) -> int:
        return len(self._state)

    def _forget_one_idle(self) -> bool:
        # Oldest first (insertion order); those in flight are few (in_flight per sender).
        for sender, state in self._state.items():
            if state[2] == 0:
                del self._state[sender]
                return True
        return False


@dataclass(frozen=True, slots=True)
class Handoff:
    """An SMS payload handed to its exchange's owner: the sender ``+N``, its application
    ports (destination, source, wide) if it had any, and the CoAP octets."""

    sender: str
    ports: Optional[tuple[int, int, bool]]
    payload: bytes


def max_octets(bus_limit: int) -> int:
    """The largest payload whose envelope fits a bus message of ``bus_limit`` octets, with
    room for the bus's own envelope (a node name of up to 64 characters, the topic, and
    the escaped quotes of this one)."""
    return (bus_limit - 300) * 3 // 4


def encode(handoff: Handoff) -> str:
    return json.dumps({"f": handoff.sender, "p": list(handoff.ports) if handoff.ports else None,
                       "b": base64.b64encode(handoff.payload).decode("ascii")}, separators=(",", ":"))


def decode(data: str) -> Handoff:
    """Raises :class:`~lwm2m_sms.errors.DecodeError` for anything :func:`encode` did not make."""
    try:
        envelope = json.loads(data)
        sender, ports, payload = envelope["f"], envelope["p"], envelope["b"]
        if not isinstance(sender, str) or not isinstance(payload, str):
            raise TypeError("sender and payload are strings")
        if ports is not None:
            if not (isinstance(ports, list) and len(ports) == 3 and all(isinstance(p, int) for p in ports)):
                raise TypeError("ports are [destination, source, wide]")
            ports = (int(ports[0]), int(ports[1]), bool(ports[2]))
        return Handoff(sender, ports, base64.b64decode(payload, validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
        raise DecodeError(f"not a hand-off: {exc}") from None
