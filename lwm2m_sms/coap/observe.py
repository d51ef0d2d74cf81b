"""Observe (RFC 7641) pieces aiocoap 0.4 leaves out, used by the server core on every
transport: a Reset for a NON notification nobody waits for, and the active cancel.

aiocoap answers an unknown *confirmable* response with a Reset and ignores an unknown
non-confirmable one. A client that notifies with NON messages therefore never learns that
an observation was cancelled and keeps notifying every pmax: over SMS, one paid SMS per
pmax, forever. RFC 7641 section 3.5 lets a client reject a notification it has no
interest in with a Reset, whatever its type; :class:`ResetUnknownNotifications` does that
for NON notifications (a response that carries an Observe option). It is a mixin for
aiocoap's MessageManager (the UDP transport's and the SMS transport's).

Section 3.6 lets the client cancel actively instead: a GET with the observation's token
and Observe=1. aiocoap's TokenManager gives each request a fresh token, so
:func:`send_deregistration` hands the GET to the message layer of the transport that
serves the remote, with the token given; its answer matches no request and is dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import NON, RST

__all__ = ["ResetUnknownNotifications", "send_deregistration"]

log = logging.getLogger(__name__)


class ResetUnknownNotifications:
    """Mixin before aiocoap's MessageManager: Reset an unknown NON notification."""

    def _process_response(self, response: Any) -> bool:
        matched: bool = super()._process_response(response)  # type: ignore[misc]
        if (not matched and response.mtype is NON and response.opt.observe is not None
                and not response.remote.is_multicast_locally):
            log.info("NON notification from %s matches no observation (token %s): Reset",
                     response.remote, response.token.hex())
            rst = Message(code=Code.EMPTY, payload=b"")
            rst.mtype, rst.mid = RST, response.mid
            rst.remote = response.remote.as_response_address()
            self._send_initially(rst)  # type: ignore[attr-defined]
        return matched


async def send_deregistration(context: Any, first: Message, request: Message) -> bool:
    """Send GET ``request``'s path with Observe=1 and the token of ``first`` (the first
    answer of the observation) to where ``first`` came from. False when no transport of
    ``context`` serves that remote."""
    cancel = Message(code=Code.GET, uri_path=request.opt.uri_path, observe=1)
    # NON: one SMS, no ACK, no retransmissions; if it is lost, the Reset to the device's next
    # notification still ends the observation.
    cancel.mtype, cancel.token = NON, first.token
    if request.opt.accept is not None:
        cancel.opt.accept = request.opt.accept
    cancel.remote = first.remote
    for ri in context.request_interfaces:
        mman = getattr(ri, "token_interface", None)
        if mman is None or not hasattr(mman, "send_message"):
            continue
        if await mman.fill_or_recognize_remote(cancel):
            mman.send_message(cancel, lambda: None)
            return True
    return False
