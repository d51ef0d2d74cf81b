"""LwM2M 1.0.2 binding modes and the routing decision for one request (sans-IO).

The six binding values of LwM2M 1.0.2 (U, UQ, S, SQ, US, UQS) name which transports a
client listens on and whether it is in queue mode on one of them. The ``Q`` applies to the
transport before it: in UQS the client is queued on UDP and reachable by SMS at any time.

:func:`decide` is the bindings table of DESIGN.md as a function: given the binding, whether
the device is online (queue mode) and what the caller asked for, it says which bearer the
request goes on and whether it goes now or waits in the queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import Lwm2mSmsError

__all__ = ["Transport", "Binding", "Route", "decide", "BindingError", "BINDINGS"]


class BindingError(Lwm2mSmsError, ValueError):
    """A binding value that LwM2M 1.0.2 does not define, or a request it cannot carry."""


class Transport(str, enum.Enum):
    UDP = "udp"
    SMS = "sms"


@dataclass(frozen=True, slots=True)
class Binding:
    value: str
    udp: bool
    sms: bool
    udp_queued: bool
    sms_queued: bool

    @classmethod
    def parse(cls, text: str) -> "Binding":
        try:
            return BINDINGS[text]
        except (KeyError, TypeError):
            raise BindingError(
                f"binding {text!r} is not one of LwM2M 1.0.2's {', '.join(BINDINGS)}"
            ) from None

    def queued(self, transport: Transport) -> bool:
        return self.udp_queued if transport is Transport.UDP else self.sms_queued

    def carries(self, transport: Transport) -> bool:
        return self.udp if transport is Transport.UDP else self.sms

    @property
    def default_transport(self) -> Transport:
        """Our policy: UDP wherever the binding has it (cheaper and faster than SMS)."""
        return Transport.UDP if self.udp else Transport.SMS

    def __str__(self) -> str:
        return self.value


BINDINGS: dict[str, Binding] = {
    "U": Binding("U", udp=True, sms=False, udp_queued=False, sms_queued=False),
    "UQ": Binding("UQ", udp=True, sms=False, udp_queued=True, sms_queued=False),
    "S": Binding("S", udp=False, sms=True, udp_queued=False, sms_queued=False),
    "SQ": Binding("SQ", udp=False, sms=True, udp_queued=False, sms_queued=True),
    "US": Binding("US", udp=True, sms=True, udp_queued=False, sms_queued=False),
    "UQS": Binding("UQS", udp=True, sms=True, udp_queued=True, sms_queued=False),
}


@dataclass(frozen=True, slots=True)
class Route:
    transport: Transport
    now: bool  # False: hold in the queue until the device is online
    wake_up: bool = False  # queued work on a sleeping UQS device: trigger /1/x/8 by SMS

    def __str__(self) -> str:
        when = "now" if self.now else "queued" + (" + SMS wake-up" if self.wake_up else "")
        return f"{self.transport.value} {when}"


def decide(binding: Binding, *, online: bool, prefer: Transport | None = None) -> Route:
    """Where and when one request to a device goes.

    ``online`` is the queue-mode state (the device sent something within its window);
    ``prefer`` is the caller's explicit choice of bearer, refused when the binding lacks it.
    """
    if prefer is not None and not binding.carries(prefer):
        raise BindingError(f"binding {binding} has no {prefer.value.upper()} transport")
    transport = prefer or binding.default_transport
    if not binding.queued(transport) or online:
        return Route(transport, now=True)
    # Queued. With SMS at hand and not queued itself (UQS), wake the device by SMS.
    return Route(transport, now=False, wake_up=binding.sms and not binding.sms_queued)
