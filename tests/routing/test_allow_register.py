"""``--allow-register`` governs every way a number becomes trusted for SMS: a Register over
UDP that names ``sms=`` outside the allow-list is refused (4.03), as is an Update that
switches to such a number; SMS from that number are then still dropped."""

import asyncio

from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.lwm2m.udp import udp_context
from lwm2m_sms.sms.address import parse_msisdn

from .conftest import LoopbackRig, make_server


async def test_udp_register_cannot_make_a_number_trusted_past_the_allow_list():
    rig = LoopbackRig()
    stack = await make_server(rig)
    stack.router.trust.register_allow_list = frozenset({parse_msisdn("+15550141")})
    ctx = await udp_context()

    async def post(path: str, query: tuple) -> Message:
        req = Message(code=Code.POST, uri=f"{stack.udp_uri}/{path}", payload=b"</3/0>", content_format=40)
        req.opt.uri_query = query
        return await asyncio.wait_for(ctx.request(req).response, 10)

    resp = await post("rd", ("ep=sneaky", "b=US", "sms=15550666"))
    assert resp.code == Code.FORBIDDEN
    assert not stack.router.trust.directory.known(parse_msisdn("+15550666"))
    ok = await post("rd", ("ep=allowed", "b=US", "sms=15550141"))
    assert ok.code == Code.CREATED
    loc = ok.opt.location_path[-1]
    assert (await post(f"rd/{loc}", ("sms=15550666",))).code == Code.FORBIDDEN
    assert str(stack.server.registration("allowed").sms) == "+15550141"
    assert (await post("rd", ("ep=clean", "b=U"))).code == Code.CREATED  # U needs no number
    await ctx.shutdown()
    await stack.close()
    await rig.close()
