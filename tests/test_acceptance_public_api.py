"""Acceptance: a program that uses only the package-level public API runs an LwM2M server
with an SMPP bearer, through the simulated SMSC over real loopback TCP, and reads /3/0 from
a device that speaks only SMS (binding S)."""

import asyncio

from lwm2m_sms import ContentFormat, Gateway, GatewayConfig, ReadResult, start_device
from smsc import SimulatedSmsc, SmppBearer, SmppLinkConfig, SmscConfig

SERVER = "+15550000"
DEVICE = "+15550001"


async def test_a_program_on_the_public_api_reads_an_sms_device_over_smpp():
    smsc = SimulatedSmsc(SmscConfig(open=True))
    await smsc.start("127.0.0.1", 0)
    device_link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="device", address_range=DEVICE), DEVICE)
    config = GatewayConfig(
        udp=("127.0.0.1", 0), msisdn=SERVER,
        smpp=SmppLinkConfig(port=smsc.port, system_id="lwm2m"), smpp_bind_timeout=10,
    )
    try:
        async with Gateway(config) as gateway:
            await device_link.start()
            await device_link.wait_bound(10)
            device = await start_device("dev-1", "S", server_uri=gateway.sms_uri, server_msisdn=SERVER,
                                        bearer=device_link, udp=False)
            assert gateway.server.registration("dev-1").binding == "S"
            result = await asyncio.wait_for(gateway.server.read("dev-1", "/3/0"), 30)
            assert isinstance(result, ReadResult)
            assert result.content_format is ContentFormat.TLV
            assert isinstance(result.value, dict) and result.value[0] == "lwm2m-sms"

            stats = gateway.stats()
            assert stats.registrations == 1
            assert stats.router.sent_sms == 1 and stats.router.sent_udp == 0
            sms = stats.sms[0].total
            # Register and the read's answer came in; the 2.01 and the GET went out.
            assert (sms.messages_received, sms.messages_sent) == (2, 2)
            assert (sms.sms_sent, sms.sms_received) == (2, 2)  # each fits one SMS (/3/0 TLV: < 140 octets)
            assert stats.sms[0].peer(DEVICE).messages_received == 2
            assert smsc.stats.submitted == 4  # the SMSC carried the same four
            await device.close()
    finally:
        await device_link.close()
        await smsc.close()
