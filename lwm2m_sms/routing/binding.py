"""The routing decision for one request to a device (sans-IO).

:func:`decide` is the bindings table of DESIGN.md as a function: given the binding, whether
the device is online (queue mode) and what the caller asked for, it says which bearer the
request goes on and whether it goes now or waits in the queue. The binding values
themselves are LwM2M data and live in :mod:`lwm2m_sms.lwm2m.binding`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lwm2m.binding import BINDINGS, Binding, BindingError, Transport

__all__ = ["Transport", "Binding", "Route", "decide", "BindingError", "BINDINGS"]


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
