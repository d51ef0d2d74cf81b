"""SMS security on two gateway nodes that share one PostgreSQL (issue 17): secured packets
(mode 2) towards one simulated UICC through the simulated SMSC, which spreads the device's
SMS round robin over the nodes' binds. The counters live in the store: the nodes never send
the same counter (the UICC, which refuses any counter not above the last, accepts every
packet) and a packet one node accepted is refused as a replay by both. OSCORE's
sequence numbers and replay window are the store's too, from two nodes to one device;
DTLS starts with a warning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from lwm2m_sms.bearer import Bearer
from lwm2m_sms.coap.settings import SmsSettings
from lwm2m_sms.gateway import GatewayError, smpp_bearer, start_device, start_server
from lwm2m_sms.security.bearer import PacketChannel, SecureBearer
from lwm2m_sms.security.policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset, is_command
from lwm2m_sms.security.setup import device_hook, enable_server_oscore
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.security.state import CounterStore
from lwm2m_sms.store import open_store

from waiting import until

from .nodes import DEVICE, SERVER, NodesRig, cluster_smsc

EP = "dev-SP"
SETTINGS = SmsSettings(ack_timeout=2.0)
OSCORE_KEYS = OscoreKeys(b"\x41", b"", bytes(range(16)))  # the device's view
PACKET = PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32)))))


async def test_two_nodes_share_the_counters_of_one_uicc(pg_url: str, tmp_path: Path) -> None:
    rig = NodesRig(SETTINGS)
    node_bearers: list[SecureBearer] = []

    def secure(bearer: Bearer) -> Bearer:
        sb = SecureBearer(bearer, SecurityPolicy({DEVICE: PACKET}))  # no files: the store keeps them
        node_bearers.append(sb)
        return sb

    try:
        await rig.start_smsc("round_robin")
        first = await rig.node(pg_url, sms_security=secure)
        dev_link = await rig.open_device_link()
        wire: list[tuple[bytes, dict[str, Any]]] = []  # what the UICC sent, for the replay below
        real_send = dev_link.send

        async def spy(to: Any, payload: bytes, **kw: Any) -> Any:
            wire.append((payload, kw))
            return await real_send(to, payload, **kw)

        dev_link.send = spy  # type: ignore[method-assign]
        uicc = SecureBearer(dev_link, SecurityPolicy({SERVER: PACKET}), counters=CounterStore(tmp_path / "uicc"))
        rig.device = await start_device(EP, "S", server_uri=first.sms_uri, server_msisdn=SERVER,
                                        bearer=uicc, udp=False, sms_settings=SETTINGS)
        await until(lambda: EP in {r.endpoint for r in first.server.registrations()}, what="Register at node 1")
        second = await rig.node(pg_url, sms_security=secure)
        for n in range(6):  # each node sends; the answers come back to either node
            node = (first, second)[n % 2]
            assert (await node.server.read(EP, "/3/0/0")).value
        sealed = [b.security_stats.sealed for b in node_bearers]
        opened = [b.security_stats.opened for b in node_bearers]
        assert all(sealed) and all(opened), (sealed, opened)  # both nodes sent and received
        assert uicc.security_stats.dropped_total == 0  # no counter refused: none reused, none lower
        assert sum(b.security_stats.dropped_total for b in node_bearers) == 0
        store = open_store(pg_url)
        try:
            sent, received = store.packet_counters.get(DEVICE) or (0, None)
        finally:
            store.close()
        assert sent == sum(sealed)  # one counter per packet, each taken once across the nodes
        to_server = uicc.channel(parse_msisdn(SERVER))
        assert isinstance(to_server, PacketChannel) and received == to_server.endpoint.sent_counter

        # The UICC's last packet again, twice: round robin gives one copy to each node, and
        # both refuse it (one of them accepted it before), answering with a PoR "counter low".
        replay, kw = next((p, k) for p, k in reversed(wire) if is_command(p))
        for _ in range(2):
            await real_send(SERVER, replay, **kw)
        await until(lambda: [b.security_stats.dropped for b in node_bearers] == [{"cntr low": 1}] * 2,
                    what="the replay refused by both nodes")
        assert sum(b.security_stats.opened for b in node_bearers) == sum(opened)  # nothing handed up
        await until(lambda: to_server.por_received == 2, what="the PoRs back at the UICC")
    finally:
        await rig.close()


async def _one_node(pg_url: str, policy: SecurityPolicy) -> None:
    smsc = await cluster_smsc()
    link = await smpp_bearer(smsc.port, "gateway", SERVER, SERVER, password="gpw")
    try:
        gw = await start_server(bearers=[link], db=pg_url, sms_settings=SETTINGS,
                                sms_security=lambda b: SecureBearer(b, policy))
        await gw.close()
    finally:
        await link.close()
        await smsc.close()


async def test_two_nodes_share_one_oscore_context(pg_url: str, tmp_path: Path) -> None:
    """Both nodes have the device's OSCORE keys (each its own copy of the context
    directory); the sequence numbers and the replay window are the store's. Reads from
    both nodes all succeed (the device refuses a reused number as a replay), the store
    reserved one number per protected request, and the device's Update replayed to the
    node that did not get it is refused there."""
    rig = NodesRig(SETTINGS)
    policy = SecurityPolicy({DEVICE: PeerSecurity(SmsSecurityMode.OSCORE, OSCORE_KEYS.swapped())}, default=None)
    states = []
    try:
        await rig.start_smsc("round_robin")
        first = await rig.node(pg_url, sms_security=lambda b: SecureBearer(b, policy))
        states.append(enable_server_oscore(first, policy, tmp_path / "node1"))
        dev_link = await rig.open_device_link()
        wire: list[tuple[bytes, dict[str, Any]]] = []
        real_send = dev_link.send

        async def spy(to: Any, payload: bytes, **kw: Any) -> Any:
            wire.append((payload, kw))
            return await real_send(to, payload, **kw)

        dev_link.send = spy  # type: ignore[method-assign]
        dev_bearer = SecureBearer(dev_link, SecurityPolicy(default=None))
        hook = device_hook(dev_bearer, tmp_path / "device")
        keys = OSCORE_KEYS
        rig.device = await start_device(
            EP, "S", server_uri=first.sms_uri, server_msisdn=SERVER, bearer=dev_bearer, udp=False,
            sms_settings=SETTINGS, sms_security=(int(SmsSecurityMode.OSCORE), keys.key_parameters(), keys.secret()),
            on_sms_security=hook)
        await until(lambda: EP in {r.endpoint for r in first.server.registrations()}, what="Register at node 1")
        second = await rig.node(pg_url, sms_security=lambda b: SecureBearer(b, policy))
        states.append(enable_server_oscore(second, policy, tmp_path / "node2"))
        contexts = [st.contexts.get(DEVICE) for st in states]
        for n in range(6):
            node = (first, second)[n % 2]
            assert (await node.server.read(EP, "/3/0/0")).value
        assert all(ctx._reserved_end for ctx in contexts)  # both nodes protected requests
        store = open_store(pg_url)
        try:
            reserved = store.oscore.state(contexts[0].name)
        finally:
            store.close()
        assert reserved is not None and reserved[0] == 6  # one number per Read, none twice

        accepted = [ctx.recipient_replay_window.accepted for ctx in contexts]
        await rig.device.client.update()
        now = [ctx.recipient_replay_window.accepted for ctx in contexts]
        assert sum(now) == sum(accepted) + 1
        other = [a == b for a, b in zip(now, accepted)].index(True)  # the node the Update missed
        # its last request (outer code POST under OSCORE; its answers are 2.04 or empty ACKs)
        update = next(p for p, _ in reversed(wire) if len(p) > 4 and p[0] >> 6 == 1 and p[1] == 0x02)
        for _ in range(2):  # round robin: one copy to each node
            await real_send(SERVER, update)
        await until(lambda: contexts[other].recipient_replay_window.refused == 1,
                    what="the replayed Update refused by the node that missed it")
        assert [ctx.recipient_replay_window.accepted for ctx in contexts] == now
    finally:
        await rig.close()
        for st in states:
            st.contexts.release()


async def test_dtls_on_a_shared_store_starts_with_one_warning(pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    dtls = PeerSecurity(SmsSecurityMode.DTLS, PskKeys(b"id", bytes(16)))
    with caplog.at_level(logging.WARNING, logger="lwm2m_sms.security.setup"):
        await _one_node(pg_url, SecurityPolicy({DEVICE: dtls}))
    warnings = [r for r in caplog.records if r.name == "lwm2m_sms.security.setup"]
    assert len(warnings) == 1 and "DTLS over SMS on a shared store" in warnings[0].getMessage()
