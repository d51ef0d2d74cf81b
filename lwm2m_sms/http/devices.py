"""Devices as the operator interface shows them: a registration with its state (online or
sleeping, by the router's own decision), queued requests and SMS counters."""

from __future__ import annotations

from typing import Any

from ..errors import Lwm2mSmsError
from .stack import RunningGateway
from ..lwm2m.path import format_path
from ..lwm2m.registration import Registration
from .events import EventHub
from .operations import msisdn_of

__all__ = ["device_json", "device_state"]


def device_state(stack: RunningGateway, reg: Registration) -> str:
    """``sleeping`` when a request would wait in the queue now, else ``online``."""
    try:
        return "online" if stack.router.route(reg).now else "sleeping"
    except Lwm2mSmsError:
        return "unknown"


def device_json(stack: RunningGateway, events: EventHub, reg: Registration,
                full: bool = False) -> dict[str, Any]:
    """One device as the API lists it (``full``: with its object links)."""
    router = stack.router
    state = device_state(stack, reg)
    msisdn = msisdn_of(reg)
    sent = received = dropped = 0
    if msisdn is not None:
        for transport in stack.sms:
            c = transport.peer_stats(msisdn)
            sent += c.sms_sent
            received += c.sms_received
            dropped += c.dropped_untrusted
    out: dict[str, Any] = {
        "endpoint": reg.endpoint, "binding": reg.binding, "msisdn": msisdn,
        "udp": reg.remote_uri if reg.remote_uri.startswith("coap://") else None,
        "remote": reg.remote_uri, "lifetime": reg.lifetime, "version": reg.version,
        "location": f"/rd/{reg.location}", "registered_at": reg.registered_at, "updated_at": reg.updated_at,
        "last_seen": events.last_seen.get(reg.endpoint, reg.updated_at), "expires_at": reg.expires_at,
        "state": state, "queued": len(router.queue.pending(reg.endpoint)),
        "sms": {"sent": sent, "received": received, "dropped_untrusted": dropped},
    }
    if full:
        out["objects"] = [{"path": l.target, "attributes": dict(l.attributes)} for l in reg.objects]
        out["observations"] = [format_path(o.path) for o in stack.server.observations(reg.endpoint)]
    return out
