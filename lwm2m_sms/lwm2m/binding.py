"""LwM2M 1.0.2 binding modes: the six values and what each says about transports.

The six binding values of LwM2M 1.0.2 (U, UQ, S, SQ, US, UQS) name which transports a
client listens on and whether it is in queue mode on one of them. The ``Q`` applies to the
transport before it: in UQS the client is queued on UDP and reachable by SMS at any time.

This is LwM2M data, so it lives in the lwm2m package; routing builds its decision on it
(``lwm2m_sms.routing.binding``), and lwm2m never imports routing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import Lwm2mSmsError

__all__ = ["Transport", "Binding", "BindingError", "BINDINGS"]


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
