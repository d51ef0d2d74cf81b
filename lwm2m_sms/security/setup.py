"""Putting the security layer under an LwM2M server or a simulated device.

The bearer modes (DTLS, secured packet) need nothing but a :class:`SecureBearer` under the
SMS transport. OSCORE also needs aiocoap's OSCORE layer in the context: requests to the
peer protected, and the served site behind aiocoap's OSCORE wrapper. These helpers do both,
from a :class:`SecurityPolicy` (server) or from the Security object a bootstrap server wrote
(device: :func:`device_hook`, given to ``Lwm2mClient(on_sms_security=...)``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..sms.address import Address, parse_msisdn
from .bearer import SecureBearer
from .oscore import OscoreContexts, oscore_site, protect_requests_to
from .policy import OscoreKeys, PeerSecurity, SecurityPolicy, SmsSecurityMode
from .state import CounterStore, SharedCounters

if TYPE_CHECKING:
    from ..bearer import Bearer
    from ..store.counters import PacketCounterTable

__all__ = ["DeviceSmsSecurity", "device_hook", "enable_oscore", "enable_server_oscore", "SmsOscoreSite",
           "share_state"]

log = logging.getLogger(__name__)


def _sms_oscore_address(address: Any) -> Any:
    """aiocoap's OSCOREAddress with the ``msisdn`` of the SMS address under it: the router
    and the LwM2M server recognise an SMS sender by that attribute."""
    from aiocoap.transports.oscore import OSCOREAddress

    class SmsOSCOREAddress(OSCOREAddress):  # type: ignore[misc]
        @property
        def msisdn(self) -> Any:
            return getattr(self.underlying_address, "msisdn", None)

    return SmsOSCOREAddress(*address)


class SmsOscoreSite:
    """Between aiocoap's OSCORE wrapper and the real site: gives OSCORE remotes their
    MSISDN (see :func:`_sms_oscore_address`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def get_resources_as_linkheader(self) -> Any:
        return self.inner.get_resources_as_linkheader()

    async def render_to_pipe(self, pipe: Any) -> Any:
        from aiocoap.transports.oscore import OSCOREAddress

        remote = pipe.request.remote
        if isinstance(remote, OSCOREAddress) and not hasattr(remote, "msisdn"):
            pipe.request.remote = _sms_oscore_address(remote)
        return await self.inner.render_to_pipe(pipe)

    async def needs_blockwise_assembly(self, request: Any) -> Any:
        return await self.inner.needs_blockwise_assembly(request)

    async def render(self, request: Any) -> Any:
        return await self.inner.render(request)


class _OscoreState:
    """What :func:`enable_oscore` set up on one context (so peers can be added later)."""

    def __init__(self, context: Any, contexts: OscoreContexts) -> None:
        self.context = context
        self.contexts = contexts
        self.accepted: dict[str, Any] = {}
        self.inner_site = context.serversite
        self._apply()

    def _apply(self) -> None:
        if self.inner_site is not None:
            self.context.serversite = oscore_site(SmsOscoreSite(self.inner_site), self.accepted)

    def add(self, peer: Address, keys: OscoreKeys) -> None:
        self.contexts.provision(peer, keys)
        sc = self.contexts.get(peer)
        protect_requests_to(self.context, peer, sc)
        self.accepted[str(peer)] = sc
        self._apply()


def enable_oscore(context: Any, contexts: "OscoreContexts | str | Path",
                  peers: "dict[Address, PeerSecurity] | None" = None) -> _OscoreState:
    """OSCORE in ``context`` for each OSCORE peer in ``peers`` (more with ``.add``).
    Contexts are created under ``contexts`` (one directory per MSISDN) on first use."""
    if not isinstance(contexts, OscoreContexts):
        contexts = OscoreContexts(contexts)
    state = _OscoreState(context, contexts)
    for peer, sec in (peers or {}).items():
        if sec.mode is SmsSecurityMode.OSCORE and isinstance(sec.keys, OscoreKeys):
            state.add(peer, sec.keys)
    return state


class DeviceSmsSecurity:
    """The ``on_sms_security`` hook of a simulated device: protects SMS to and from the
    server's number (/0/x/9) as /0/x/6..8 say. Call :meth:`release` when the device stops
    (it persists and unlocks OSCORE contexts)."""

    def __init__(self, bearer: SecureBearer, oscore_dir: "str | Path | None" = None) -> None:
        self.bearer = bearer
        self.oscore_dir = oscore_dir
        self.oscore: _OscoreState | None = None

    def __call__(self, context: Any, instance: Mapping[int, Any]) -> None:
        number = instance.get(9)
        if not number:
            return
        peer = parse_msisdn(str(number))
        sec = PeerSecurity.from_resources(int(instance.get(6, 3)), bytes(instance.get(7) or b""),
                                          bytes(instance.get(8) or b""))
        self.bearer.policy.set(peer, sec)
        log.info("SMS to and from %s: security mode %s", peer, sec.mode.name)
        if sec.mode is SmsSecurityMode.OSCORE:
            assert isinstance(sec.keys, OscoreKeys)
            if self.oscore_dir is None:
                raise ValueError("OSCORE needs a directory for its security contexts")
            if self.oscore is None:
                self.oscore = enable_oscore(context, self.oscore_dir)
            self.oscore.add(peer, sec.keys)

    def release(self) -> None:
        if self.oscore is not None:
            self.oscore.contexts.release()

    async def release_async(self) -> None:
        self.release()


device_hook = DeviceSmsSecurity


def enable_server_oscore(stack: Any, policy: SecurityPolicy, contexts: "OscoreContexts | str | Path") -> _OscoreState:
    """OSCORE for an LwM2M server (a gateway ``ServerStack``) towards every OSCORE device in
    ``policy``; its router's trust gate learns which numbers speak OSCORE. A gateway with a
    store (``stack.store``) keeps the contexts' sequence numbers and replay windows there
    (a directory given here gets that; :class:`OscoreContexts` must have been made with
    ``shared=stack.store.oscore``): on PostgreSQL the nodes share them."""
    store = getattr(stack, "store", None)
    if store is not None and not isinstance(contexts, OscoreContexts):
        contexts = OscoreContexts(contexts, shared=store.oscore)
    if store is not None and isinstance(contexts, OscoreContexts) and contexts.shared is None:
        raise ValueError("OSCORE on a gateway with a store: give OscoreContexts(..., shared=gateway.store.oscore)"
                         " (or a directory), or the nodes would reuse sequence numbers")
    state = enable_oscore(stack.context, contexts, policy.peers())
    stack.router.trust.oscore_peer = lambda sender: _is_oscore(policy.for_peer(sender))
    return state


def _is_oscore(sec: "PeerSecurity | None") -> bool:
    return sec is not None and sec.mode is SmsSecurityMode.OSCORE


def share_state(bearer: "Bearer", table: "PacketCounterTable", *, several_nodes: bool) -> None:
    """Put ``bearer``'s secured-packet counters (when it is a :class:`SecureBearer`) in the
    gateway's store, ``table``; its files, if it had any, seed the peers the table does not
    know yet. ``several_nodes`` (a PostgreSQL store, which other nodes may share): DTLS
    peers get one warning, as a DTLS session lives in the node that made it
    (docs/cluster.md). OSCORE's state goes to the store through
    :func:`enable_server_oscore`."""
    if not isinstance(bearer, SecureBearer):
        return
    files = bearer.counters if isinstance(bearer.counters, CounterStore) else None
    bearer.counters = SharedCounters(table, seed=files)
    if not several_nodes:
        return
    policy = bearer.policy
    modes = {s.mode for s in policy.peers().values()}
    if policy.default is not None:
        modes.add(policy.default.mode)
    if SmsSecurityMode.DTLS in modes:
        log.warning("DTLS over SMS on a shared store: each DTLS session lives in one node, so a peer's"
                    " SMS must reach the node it shook hands with (one node, or an SMSC that routes"
                    " each sender to one bind); see docs/cluster.md")
