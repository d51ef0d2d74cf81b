"""Flood: 10,000 first parts from 1,000 numbers no registration names, while a registered
device sends a 3-part Update by SMS. The Update completes (2.04), the server's reassembly
memory stays within the untrusted pool, and every eviction is counted."""

import asyncio

from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.bearer import SmsSegment
from lwm2m_sms.coap import SmsSettings
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.reassembly import DEFAULT_UNTRUSTED_MAX_BYTES, DEFAULT_UNTRUSTED_MAX_OPEN
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.udh import Concat, Udh

from waiting import until

from .conftest import SERVER, LoopbackRig, make_device, make_server

DEVICE = "+15550131"


async def test_flood_of_first_parts_cannot_evict_a_registered_update():
    rig = LoopbackRig()
    stack = await make_server(rig)
    # 512-octet blocks: the Update goes as one CoAP message in a 3-part SMS, not block-wise
    dev = await make_device(rig, stack, "dev-flood", "S", DEVICE, sms_settings=SmsSettings(block_size_exp=5, max_message_size=1024))
    server_bearer = stack.sms[0].bearer
    stats = server_bearer.reassembly_stats
    reg = stack.server.registration("dev-flood")
    server = parse_msisdn(SERVER)
    chunk = bytes(range(130))

    def flood(start: int, n: int) -> None:
        for i in range(start, start + n):
            sender = parse_msisdn(f"+1666{i % 1000:07d}")
            ud = UserData(chunk, Udh.build(concat=Concat(i // 1000, 4, 1)))
            rig.net.inject(SmsSegment(sender, server, ud))

    links = ",".join(f"</3303/{i}>" for i in range(30))  # with the CoAP header: 3 SMS
    held: list[SmsSegment] = []

    def tap(seg: SmsSegment):
        # the Update's parts 2 and 3 wait until the whole flood went in after part 1
        if str(seg.sender) == DEVICE and seg.user_data.concat is not None and seg.user_data.concat.seq > 1:
            held.append(seg)
            return []
        return [seg]

    rig.net.tap = tap
    sent_before = dev.sms.bearer.stats.sms_sent
    flood(0, 2000)
    update = Message(code=Code.POST, uri=f"coap+sms://{SERVER}/rd/{reg.location}", payload=links.encode())
    pending = asyncio.ensure_future(dev.context.request(update).response)
    await until(lambda: len(held) == 2)
    await rig.net.drain()
    assert stats.open - stats.open_untrusted == 1  # part 1 of the Update is held
    flood(2000, 8000)
    await rig.net.drain()
    for seg in held:
        rig.net.inject(seg)
    response = await asyncio.wait_for(pending, 30)
    await rig.net.drain()
    assert response.code == Code.CHANGED
    assert dev.sms.bearer.stats.sms_sent - sent_before == 3, dev.sms.bearer.stats.sms_sent - sent_before
    assert [link.target for link in stack.server.registration("dev-flood").objects][-1] == "/3303/29"
    assert stats.open_untrusted <= DEFAULT_UNTRUSTED_MAX_OPEN
    assert stats.buffered_bytes <= DEFAULT_UNTRUSTED_MAX_BYTES
    assert stats.evicted == stats.evicted_untrusted == 10_000 - stats.open_untrusted
    await dev.close()
    await stack.close()
    await rig.close()
