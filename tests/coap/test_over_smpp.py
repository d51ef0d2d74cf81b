"""aiocoap over the SMS transport over a real bearer: SMPP links through the simulated SMSC
on a loopback TCP port (the same transport code as on the loopback bearer)."""

import asyncio

import aiocoap
from aiocoap import GET, PUT, Message

import smsc.config as smsc_config
import smsc.link as smsc_link
import smsc.server as smsc_server
from lwm2m_sms.coap import add_sms_transport

from .conftest import CLIENT, SERVER, make_site


async def test_get_and_blockwise_through_the_simulated_smsc():
    smsc = smsc_server.SimulatedSmsc(smsc_config.SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    links = [
        smsc_link.SmppBearer(
            smsc_link.SmppLinkConfig(port=smsc.port, system_id=f"esme{n[-1]}", address_range=n), n
        )
        for n in (CLIENT, SERVER)
    ]
    site, res = make_site()
    server = aiocoap.Context(serversite=site, loggername="coap-server")
    client = aiocoap.Context(loggername="coap-client")
    try:
        for link in links:
            await link.start()
        await add_sms_transport(client, links[0])
        await add_sms_transport(server, links[1])

        def sms_submitted():
            return sum(link.stats.sms_sent for link in links)

        uri = f"coap+sms://{SERVER}/"
        resp = await asyncio.wait_for(client.request(Message(code=GET, uri=uri + "store")).response, 10)
        assert resp.payload == b"v0" and res["store"].senders == [CLIENT]
        assert sms_submitted() == 2 and smsc.stats.submitted == 2

        resp = await asyncio.wait_for(client.request(Message(code=GET, uri=uri + "big")).response, 30)
        assert resp.payload == bytes(range(256)) * 8
        assert sms_submitted() == 2 + 64

        body = bytes(range(256)) * 8
        resp = await asyncio.wait_for(
            client.request(Message(code=PUT, uri=uri + "store", payload=body)).response, 30
        )
        assert resp.code == aiocoap.CHANGED and res["store"].value == body
        assert sms_submitted() == 2 + 64 + 64 and smsc.stats.submitted == 130
    finally:
        await client.shutdown()
        await server.shutdown()
        for link in links:
            await link.close()
        await smsc.close()
