"""Spoofing at the LwM2M level, end to end over real loopback sockets: a device's SMSC
account forges another endpoint's Update and Register (the SMS source claims the victim's
number). The SMSC refuses both submit_sm (ESME_RINVSRCADR), the server never sees them and
the victim's registration is unchanged. Before accounts owned their numbers, the Update got
2.04 and the Register replaced the victim's location."""

import asyncio

from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type

from lwm2m_sms.bearer import DeliveryState
from lwm2m_sms.gateway import smpp_bearer, start_device, start_server
from smsc.config import Account, SmscConfig
from smsc.server import SimulatedSmsc

SERVER, VICTIM, ATTACKER = "+15550000", "+15550101", "+15550202"


async def test_forged_update_and_register_are_refused_and_the_registration_unchanged():
    cfg = SmscConfig(
        accounts=[
            Account("server", "spw", address_range="15550000"),
            Account("dev0101", "apw", address_range="15550101"),
            Account("dev0202", "bpw", address_range="15550202"),
        ],
        retry_min=0.05, retry_max=0.2,
    )
    closers = []
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        try:
            server_link = await smpp_bearer(smsc.port, "server", SERVER, SERVER, password="spw")
            closers.append(server_link.close)
            stack = await start_server(bearers=[server_link])
            closers.append(stack.close)
            victim_link = await smpp_bearer(smsc.port, "dev0101", VICTIM, VICTIM, password="apw")
            closers.append(victim_link.close)
            victim = await start_device("victim", "S", server_uri=stack.udp_uri, server_msisdn=SERVER,
                                        bearer=victim_link, lifetime=300)
            closers.append(victim.close)
            before = stack.server.registration("victim")
            assert str(before.sms) == VICTIM

            # The attacker's account binds for its own number but sends with the victim's.
            forger = await smpp_bearer(smsc.port, "dev0202", ATTACKER, VICTIM, password="bpw")
            closers.append(forger.close)
            update = Message(mtype=Type.CON, mid=0x4242, token=b"\x01\x02", code=Code.POST,
                             uri_path=("rd", before.location), uri_query=("lt=1",))
            register = Message(mtype=Type.CON, mid=0x4243, token=b"\x03\x04", code=Code.POST,
                               uri_path=("rd",), uri_query=("ep=victim", "lt=86400", "lwm2m=1.0", "b=S",
                                                            f"sms={ATTACKER.lstrip('+')}"),
                               content_format=40, payload=b"</3/0>")
            for forged in (update, register):
                sub = await forger.send(SERVER, forged.encode())
                outcome = await asyncio.wait_for(sub.outcome, 10)
                assert outcome.state is DeliveryState.FAILED and "ESME_RINVSRCADR" in outcome.detail
            assert smsc.stats.spoofs == 2

            # The victim's own traffic still flows, and its registration is what it was.
            assert (await stack.server.read("victim", "/3/0/0")).value == "lwm2m-sms"
            after = stack.server.registration("victim")
            assert (after.location, after.lifetime, str(after.sms), after.remote_uri) == (
                before.location, before.lifetime, VICTIM, before.remote_uri)
        finally:
            for close in reversed(closers):
                await close()
