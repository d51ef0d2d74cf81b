"""OSCORE over coap+sms with aiocoap's OSCORE layer: protected end to end through the SMS
transport, replays refused, sequence numbers monotonic across a restart."""

from __future__ import annotations

import aiocoap
import pytest
from aiocoap import GET, PUT, Message

from lwm2m_sms.bearer import loopback_pair
from lwm2m_sms.coap import add_sms_transport
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.oscore import OscoreContexts, oscore_site, protect_requests_to, release_context
from lwm2m_sms.security.oscore_check import is_oscore_or_empty
from lwm2m_sms.security.policy import OscoreKeys, PeerSecurity, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.sms.segmentation import UserData

from coap.conftest import make_site
from waiting import until

CLIENT = "+15550000001"
SERVER = "+15550000002"
KEYS = OscoreKeys(sender_id=b"\x01", recipient_id=b"", master_secret=bytes(range(16)))
OSCORE = PeerSecurity(SmsSecurityMode.OSCORE, KEYS)


class Rig:
    def __init__(self, client: str = CLIENT, server: str = SERVER) -> None:
        self.c, self.s = client, server

    async def start(self, tmp_path, bearers=None):
        if bearers is None:
            a, b, self.net = loopback_pair(self.c, self.s)
            self.net.keep_log = True
        else:
            a, b = bearers
        self.client_contexts = OscoreContexts(tmp_path / "client")
        self.client_contexts.provision(self.s, KEYS)
        self.server_contexts = OscoreContexts(tmp_path / "server")
        self.server_contexts.provision(self.c, KEYS.swapped())
        self.site, self.res = make_site()
        self.server = aiocoap.Context(
            serversite=oscore_site(self.site, {"client": self.server_contexts.get(self.c)}))
        self.client = aiocoap.Context()
        self.a = SecureBearer(a, SecurityPolicy({self.s: OSCORE}))
        self.b = SecureBearer(b, SecurityPolicy({self.c: PeerSecurity(SmsSecurityMode.OSCORE, KEYS.swapped())}))
        if bearers is None:
            await self.a.start()
            await self.b.start()
        await add_sms_transport(self.server, self.b)
        await add_sms_transport(self.client, self.a)
        protect_requests_to(self.client, self.s, self.client_contexts.get(self.s))
        return self

    async def restart_client(self):
        await self.client.shutdown()
        self.client_contexts.release()
        self.client = aiocoap.Context()
        await add_sms_transport(self.client, self.a)
        protect_requests_to(self.client, self.s, self.client_contexts.get(self.s))

    async def close(self, bearers=True):
        await self.client.shutdown()
        await self.server.shutdown()
        self.client_contexts.release()
        self.server_contexts.release()
        if bearers:
            await self.a.close()
            await self.b.close()


@pytest.fixture
async def rig(tmp_path):
    r = await Rig().start(tmp_path)
    yield r
    await r.close()


async def test_request_protected_end_to_end(rig):
    resp = await rig.client.request(Message(code=GET, uri=f"coap+sms://{SERVER}/store")).response
    assert resp.code == aiocoap.CONTENT and resp.payload == b"v0"
    resp = await rig.client.request(Message(code=PUT, uri=f"coap+sms://{SERVER}/store", payload=b"new")).response
    assert resp.code == aiocoap.CHANGED and rig.res["store"].value == b"new"
    wire = [s.user_data.data for s in rig.net.log]
    assert len(wire) == 4 and all(is_oscore_or_empty(w) for w in wire)
    assert not any(b"store" in w or b"new" in w for w in wire)  # path and payload ciphered
    assert rig.b.security_stats.opened == 2 and rig.a.security_stats.opened == 2


async def test_replayed_request_refused(rig):
    await rig.client.request(Message(code=PUT, uri=f"coap+sms://{SERVER}/store", payload=b"once")).response
    request = rig.net.log[0]
    renders = len(rig.res["store"].renders)
    # the same protected request again, under a new message ID so CoAP deduplication
    # does not hide it: only OSCORE's replay window can refuse it
    data = bytearray(request.user_data.data)
    data[2] ^= 0x55
    rig.net.inject(type(request)(request.sender, request.recipient, UserData(bytes(data))))
    await until(lambda: len(rig.net.log) > 2, what="the server's answer to the replay")
    assert len(rig.res["store"].renders) == renders  # not executed again
    reply = aiocoap.Message.decode(rig.net.log[-1].user_data.data)
    assert reply.code == aiocoap.UNAUTHORIZED  # "Replay detected", never the resource's answer


async def test_unprotected_request_to_an_oscore_peer_dropped_silently(rig):
    plain = bytes.fromhex("4101004d74") + b"\xb5store"  # CON GET /store, MID 77, token "t"
    rig.net.inject(_segment(CLIENT, SERVER, plain))
    await rig.net.drain()
    assert rig.res["store"].renders == [] and rig.net.log == []
    assert rig.b.security_stats.dropped == {"not OSCORE-protected": 1}


def _segment(sender, recipient, data):
    from lwm2m_sms.bearer import SmsSegment
    from lwm2m_sms.sms.address import parse_msisdn

    return SmsSegment(parse_msisdn(sender), parse_msisdn(recipient), UserData(data))


async def test_restart_keeps_sequence_numbers_monotonic(rig):
    for _ in range(3):
        await rig.client.request(Message(code=GET, uri=f"coap+sms://{SERVER}/store")).response
    used = rig.client_contexts.get(SERVER).sender_sequence_number
    await rig.restart_client()
    after = rig.client_contexts.get(SERVER).sender_sequence_number
    assert after >= used
    resp = await rig.client.request(Message(code=GET, uri=f"coap+sms://{SERVER}/store")).response
    assert resp.code == aiocoap.CONTENT  # the server's replay window accepts the new numbers
    assert rig.client_contexts.get(SERVER).sender_sequence_number > after


async def test_through_the_simulated_smsc_over_smpp(tmp_path):
    """Both ends on SMPP binds of the simulated SMSC (real loopback sockets)."""
    from routing.conftest import SmppRig

    smpp = await SmppRig().start()
    try:
        device, server = "+15550121", "+15550000"
        bearers = (await smpp.bearer(device), await smpp.bearer(server, server=True))
        rig = await Rig(device, server).start(tmp_path, bearers)
        before = smpp.sms()
        resp = await rig.client.request(Message(code=GET, uri=f"coap+sms://{server}/store")).response
        assert resp.code == aiocoap.CONTENT and resp.payload == b"v0"
        assert smpp.sms() - before == 2 and rig.b.security_stats.opened == 1
        await rig.close(bearers=False)
    finally:
        await smpp.close()


async def test_request_with_another_peers_kid_dropped(rig):
    """A context is bound to its MSISDN: a valid OSCORE request from a number whose
    configured sender ID differs is dropped at the SMS layer."""
    rig.b.policy.set(CLIENT, PeerSecurity(SmsSecurityMode.OSCORE, OscoreKeys(b"", b"\x09", bytes(16))))
    request = rig.client.request(Message(code=GET, uri=f"coap+sms://{SERVER}/store"))
    await until(lambda: rig.b.security_stats.dropped, what="the request dropped")
    await rig.net.drain()
    request.response.cancel()
    assert rig.res["store"].renders == [] and len(rig.net.log) == 1  # no answer
    assert rig.b.security_stats.dropped == {"OSCORE kid of another peer": 1}
