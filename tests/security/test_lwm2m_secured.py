"""LwM2M over secured SMS, every mode, with the device's SMS security taken from its
Security object (/0/x/6..9) as a bootstrap server writes it: register, read, write,
execute; /0 (with /0/x/8) never readable by the server."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m_sms.gateway import start_device, start_server
from lwm2m_sms.lwm2m.exceptions import Lwm2mError
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset
from lwm2m_sms.security.setup import device_hook, enable_server_oscore

from routing.conftest import SERVER, LoopbackRig, SmppRig

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


async def eventually(condition, timeout=10.0):
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


@pytest.fixture(params=["loopback", "smpp"])
async def rig(request):
    r = {"loopback": LoopbackRig, "smpp": SmppRig}[request.param]()
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
    assert await stack.server.read("dev-sec", "/3/0/0") == "lwm2m-sms"
    await stack.server.write("dev-sec", "/1/0/1", 200)
    assert await stack.server.read("dev-sec", "/1/0/1") == 200
    updates = dev.client.stats["updates"]
    await stack.server.execute("dev-sec", "/1/0/8")
    await eventually(lambda: dev.client.stats["updates"] > updates)
    with pytest.raises(Lwm2mError):
        await stack.server.read("dev-sec", "/0/1/8")  # the SMS secret key stays on the device
    assert sb.security_stats.dropped_total == 0 and db.security_stats.dropped_total == 0
    assert sb.security_stats.nosec_passed == 0 and db.security_stats.nosec_passed == 0
    await dev.close()
    await stack.close()
