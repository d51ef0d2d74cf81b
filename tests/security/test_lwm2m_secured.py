"""LwM2M over secured SMS, every mode, with the device's SMS security taken from its
Security object (/0/x/6..9) as a bootstrap server writes it: register, read, write,
execute; /0 (with /0/x/8) never readable by the server."""

from __future__ import annotations

import pytest

from lwm2m_sms.gateway import start_device, start_server
from lwm2m_sms.lwm2m.exceptions import Lwm2mError
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset
from lwm2m_sms.security.setup import device_hook, enable_server_oscore

from routing.conftest import SERVER, LoopbackRig, ModemRig, SmppRig
from waiting import until

DEVICE = "+15550141"

SECURITY = {
    "packet": PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32))))),
    "dtls": PeerSecurity(SmsSecurityMode.DTLS, PskKeys(b"dev-141", bytes(range(16)))),
    "oscore": PeerSecurity(SmsSecurityMode.OSCORE, OscoreKeys(b"\x41", b"", bytes(range(16)))),
}


def server_view(sec: PeerSecurity) -> PeerSecurity:
    if isinstance(sec.keys, OscoreKeys):
        return PeerSecurity(sec.mode, sec.keys.swapped())
    return sec


@pytest.fixture(params=["loopback", "smpp", "modem"])
async def rig(request):
    r = {"loopback": LoopbackRig, "smpp": SmppRig, "modem": ModemRig}[request.param]()
    if hasattr(r, "start"):
        await r.start()
    yield r
    await r.close()


@pytest.mark.parametrize("mode", list(SECURITY))
async def test_S_device_secured_by_its_security_object(rig, mode, tmp_path):
    if mode == "dtls":
        pytest.importorskip("DTLSSocket")
    sec = SECURITY[mode]
    policy = SecurityPolicy({DEVICE: server_view(sec)}, default=None)
    sb = SecureBearer(await rig.bearer(SERVER, server=True), policy)
    stack = await start_server(bearers=[sb])
    if mode == "oscore":
        enable_server_oscore(stack, policy, tmp_path / "server")
    db = SecureBearer(await rig.bearer(DEVICE), SecurityPolicy(default=None))
    # The device's /0 instance carries mode and keys (as a bootstrap server writes them);
    # the hook turns them into its SMS security.
    dev = await start_device(
        "dev-sec", "S", server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=db,
        sms_security=(int(sec.mode), sec.keys.key_parameters(), sec.keys.secret()),
        on_sms_security=device_hook(db, tmp_path / "device"))
    assert (await stack.server.read("dev-sec", "/3/0/0")).value == "lwm2m-sms"
    await stack.server.write("dev-sec", "/1/0/1", 200)
    assert (await stack.server.read("dev-sec", "/1/0/1")).value == 200
    updates = dev.client.stats["updates"]
    await stack.server.execute("dev-sec", "/1/0/8")
    await until(lambda: dev.client.stats["updates"] > updates)
    with pytest.raises(Lwm2mError):
        await stack.server.read("dev-sec", "/0/1/8")  # the SMS secret key stays on the device
    assert sb.security_stats.dropped_total == 0 and db.security_stats.dropped_total == 0
    assert sb.security_stats.nosec_passed == 0 and db.security_stats.nosec_passed == 0
    await dev.close()
    await stack.close()


async def test_bootstrap_server_writes_the_sms_security_and_the_device_uses_it(tmp_path):
    """The bootstrap server writes /0/x/6 (2, secured packet), /0/x/7, /0/x/8 and /0/x/9;
    the device then registers and is read by secured packets only."""
    from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig, BootstrapServer

    rig = LoopbackRig()
    rig.net.keep_log = True
    sec = SECURITY["packet"]
    sb = SecureBearer(await rig.bearer(SERVER, server=True), SecurityPolicy({DEVICE: sec}, default=None))
    stack = await start_server(bearers=[sb])
    bs = await BootstrapServer.create_udp(BootstrapConfig.from_dict({"endpoints": {"bs-dev": {"servers": [{
        "uri": stack.udp_uri, "binding": "S", "sms_number": SERVER, "sms_security_mode": 2,
        "sms_key_parameters": sec.keys.key_parameters().hex(), "sms_secret_key": sec.keys.secret().hex(),
    }]}}}), ("127.0.0.1", 0))
    db = SecureBearer(await rig.bearer(DEVICE), SecurityPolicy(default=None))
    try:
        dev = await start_device("bs-dev", "S", bootstrap_uri=f"coap://127.0.0.1:{bs.port}", bearer=db,
                                 server_msisdn=SERVER, on_sms_security=device_hook(db))
        written = dev.client.objects[0][1]
        assert (written[6], written[7], written[8], written[9]) == (
            2, sec.keys.key_parameters(), sec.keys.secret(), SERVER.lstrip("+"))
        assert (await stack.server.read("bs-dev", "/3/0/0")).value == "lwm2m-sms"
        assert rig.net.log and all(s.user_data.data[:3] == b"\x02\x70\x00" for s in rig.net.log
                                   if s.user_data.udh is None)
        assert sb.security_stats.opened >= 2 and db.security_stats.opened >= 2
        await dev.close()
    finally:
        await bs.close()
        await stack.close()
        await rig.close()
