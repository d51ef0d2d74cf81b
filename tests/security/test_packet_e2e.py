"""SMS security mode 2 end to end: an LwM2M server and an S device whose every SMS is a
secured packet, over the loopback network and through the simulated SMSC over SMPP."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import PacketKeys, PeerSecurity, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset, is_command
from lwm2m_sms.security.state import CounterStore

from routing.conftest import SERVER, LoopbackRig, SmppRig, make_server
from waiting import until
from lwm2m_sms.bearer import LoopbackBearer
from lwm2m_sms.gateway import start_device

DEVICE = "+15550111"
KEYS = PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32))))
PACKET = PeerSecurity(SmsSecurityMode.PACKET, KEYS)


@pytest.fixture(params=["loopback", "smpp"])
async def rig(request):
    r = {"loopback": LoopbackRig, "smpp": SmppRig}[request.param]()
    if hasattr(r, "start"):
        await r.start()
    yield r
    await r.close()


async def secured_pair(rig, tmp_path, binding="S"):
    server_bearer = SecureBearer(await rig.bearer(SERVER, server=True), SecurityPolicy({DEVICE: PACKET}),
                                 counters=CounterStore(tmp_path / "server"))
    stack = await make_server(_Given(server_bearer))
    dev_bearer = SecureBearer(await rig.bearer(DEVICE), SecurityPolicy({SERVER: PACKET}),
                              counters=CounterStore(tmp_path / "device"))
    dev = await start_device("dev-P", binding, server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=dev_bearer)
    return stack, dev, server_bearer, dev_bearer


class _Given:
    def __init__(self, bearer):
        self._b = bearer

    async def bearer(self, msisdn, server=False):
        return self._b


async def test_read_write_execute_as_secured_packets(rig, tmp_path):
    if isinstance(rig, LoopbackRig):
        rig.net.keep_log = True
    stack, dev, sb, db = await secured_pair(rig, tmp_path)
    assert stack.server.registration("dev-P") is not None
    assert (await stack.server.read("dev-P", "/3/0/0")).value == "lwm2m-sms"
    await stack.server.write("dev-P", "/1/0/1", 120)
    assert (await stack.server.read("dev-P", "/1/0/1")).value == 120
    updates = dev.client.stats["updates"]
    await stack.server.execute("dev-P", "/1/0/8")
    await until(lambda: dev.client.stats["updates"] > updates)
    assert sb.security_stats.opened >= 5 and db.security_stats.opened >= 4
    assert sb.security_stats.dropped_total == 0 == db.security_stats.dropped_total
    if isinstance(rig, LoopbackRig):
        # every SMS on the network is a command packet or a later part of a concatenated one
        singles = [s.user_data.data for s in rig.net.log if not s.user_data.udh]
        assert singles and all(is_command(d) for d in singles)
        # each as a class 2 SMS with TP-PID 0x7F (SIM data download), as TS 31.115 binds it
        assert {(s.pid, s.dcs) for s in rig.net.log} == {(0x7F, 0xF6)}
    await dev.close()
    await stack.close()


async def test_nosec_sms_to_a_secured_device_is_dropped_silently(rig, tmp_path):
    stack, dev, sb, db = await secured_pair(rig, tmp_path)
    # A NoSec Execute /1/0/8 as if from the server's number (a forged sender), handed to
    # the device's bearer as its network would:
    from lwm2m_sms.bearer import InboundSms
    from lwm2m_sms.sms.address import parse_msisdn

    # A secured read costs a known number of SMS; the same read after the forged request
    # is the barrier: an answer to the forged one would leave the device before the read's.
    before = rig.sms()
    assert (await stack.server.read("dev-P", "/3/0/0")).value == "lwm2m-sms"
    read_cost = rig.sms() - before
    before = rig.sms()
    await db._on_inbound(InboundSms(parse_msisdn(SERVER), bytes.fromhex("42020001aa01b1310138")))
    assert db.security_stats.dropped == {"not a secured packet": 1}
    assert (await stack.server.read("dev-P", "/3/0/0")).value == "lwm2m-sms"
    assert rig.sms() - before == read_cost  # nothing answered
    await dev.close()
    await stack.close()


async def test_counters_survive_a_restart(tmp_path):
    store = CounterStore(tmp_path)
    store.save("+15550111", 41, 17)
    assert CounterStore(tmp_path).load("+15550111") == (41, 17)
    assert store.load("+15550999") == (0, None)


@pytest.mark.parametrize("kept", [True, False])
async def test_a_restarted_device_keeps_counting_only_with_its_counters_kept(tmp_path, kept):
    """The simulated UICC's counter must survive a restart: with its CounterStore the
    device's next packets are accepted; starting again from 0, the server refuses them as
    replays (and tells the device so in a PoR)."""
    rig = LoopbackRig()
    server_bearer = SecureBearer(await rig.bearer(SERVER, server=True), SecurityPolicy({DEVICE: PACKET}),
                                 counters=CounterStore(tmp_path / "server"))
    stack = await make_server(_Given(server_bearer))

    async def device(run: int):
        store = CounterStore(tmp_path / ("device" if kept else f"device-{run}"))
        b = SecureBearer(LoopbackBearer(rig.net, DEVICE), SecurityPolicy({SERVER: PACKET}), counters=store)
        await b.start()
        return b, await start_device("dev-R", "S", server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=b,
                                     udp=False, start=False)

    b1, d1 = await device(1)
    await d1.client.start()
    await d1.close(deregister=False)
    await b1.close()
    b2, d2 = await device(2)
    if kept:
        await d2.client.start()
        assert (await stack.server.read("dev-R", "/3/0/0")).value == "lwm2m-sms"
    else:
        start = asyncio.ensure_future(d2.client.start())
        await until(lambda: server_bearer.security_stats.dropped.get("cntr low", 0) >= 1)
        await until(lambda: b2.channel(server_bearer.local_address).por_received >= 1)  # told why
        assert not start.done()  # its Register is never answered
    await d2.context.shutdown()  # fails the Register still waiting
    if not kept:
        with pytest.raises(Exception):
            await start
    await b2.close()
    await stack.close()
    await rig.close()
