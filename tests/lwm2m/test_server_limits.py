"""Server input limits against a hostile client, over real UDP: each limit's response code,
and a clean Register still answered 2.01 afterwards."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.lwm2m.registration import RegistrationLimits
from lwm2m_sms.lwm2m.server import Lwm2mServer
from lwm2m_sms.lwm2m.udp import guard

LIMITS = RegistrationLimits(max_registrations=3, max_link_format=200, min_lifetime=60,
                            max_lifetime=86400, max_endpoint=32)


@pytest.fixture
async def limited():
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), limits=LIMITS)
    yield srv
    await srv.close()


async def post(ctx, srv, query: str, payload: bytes = b"</3/0>", path: str = "rd") -> Message:
    req = Message(code=Code.POST, uri=f"coap://127.0.0.1:{srv.port}/{path}", payload=payload,
                  content_format=40)
    # set as options, not in the URI: the raw bytes a hostile client puts on the wire
    req.opt.uri_query = tuple(query.split("&")) if query else ()
    return await asyncio.wait_for(ctx.request(req).response, 10)


async def clean_register_works(ctx, srv, ep: str = "clean") -> None:
    resp = await post(ctx, srv, f"ep={ep}&lt=300")
    assert resp.code == Code.CREATED, resp


@pytest.mark.parametrize("query, payload, code", [
    ("ep=a&lt=59", b"</3/0>", Code.BAD_REQUEST),  # below min_lifetime
    ("ep=a&lt=86401", b"</3/0>", Code.BAD_REQUEST),  # above max_lifetime
    ("ep=a&lt=4294967295", b"</3/0>", Code.BAD_REQUEST),  # 2^32-1: was accepted
    ("ep=a&lt=0", b"</3/0>", Code.BAD_REQUEST),
    ("ep=a", b",".join(b"</3303/%d>" % i for i in range(40)), Code.REQUEST_ENTITY_TOO_LARGE),
    ("ep=" + "e" * 33, b"</3/0>", Code.BAD_REQUEST),  # longer than max_endpoint
    ("ep=bad\nname", b"</3/0>", Code.BAD_REQUEST),  # forges a log line
    ("ep=nul\x00", b"</3/0>", Code.BAD_REQUEST),
    ("ep=esc\x1b[31m", b"</3/0>", Code.BAD_REQUEST),
])
async def test_each_register_limit_answers_its_code(limited, contexts, query, payload, code, caplog):
    ctx = await contexts()
    with caplog.at_level(logging.WARNING):
        resp = await post(ctx, limited, query, payload)
    assert resp.code == code
    assert limited.registrations() == []
    for record in caplog.records:  # log lines escape what is unprintable
        assert "\n" not in record.getMessage() and "\x00" not in record.getMessage()
        assert "\x1b" not in record.getMessage()
    await clean_register_works(ctx, limited)


async def test_update_limits(limited, contexts):
    ctx = await contexts()
    created = await post(ctx, limited, "ep=upd&lt=300")
    loc = "/".join(created.opt.location_path)
    assert (await post(ctx, limited, "lt=10", b"", loc)).code == Code.BAD_REQUEST
    assert (await post(ctx, limited, "", b"</1/0>," * 40, loc)).code == Code.REQUEST_ENTITY_TOO_LARGE
    assert (await post(ctx, limited, "lt=600", b"", loc)).code == Code.CHANGED
    assert limited.registration("upd").lifetime == 600
    await clean_register_works(ctx, limited)


async def test_registrations_are_bounded(limited, contexts):
    ctx = await contexts()
    for i in range(3):
        assert (await post(ctx, limited, f"ep=d{i}")).code == Code.CREATED
    assert (await post(ctx, limited, "ep=d3")).code == Code.SERVICE_UNAVAILABLE
    assert (await post(ctx, limited, "ep=d0")).code == Code.CREATED  # re-registering is fine
    resp = await asyncio.wait_for(ctx.request(Message(
        code=Code.DELETE, uri=f"coap://127.0.0.1:{limited.port}/rd/{limited.registration('d1').location}")).response, 10)
    assert resp.code == Code.DELETED
    await clean_register_works(ctx, limited)


async def test_limits_refuse_nonsense():
    with pytest.raises(ValueError):
        RegistrationLimits(min_lifetime=0)
    with pytest.raises(ValueError):
        RegistrationLimits(min_lifetime=100, max_lifetime=10)
    with pytest.raises(ValueError):
        RegistrationLimits(max_registrations=0)


async def test_bad_udp_option_is_one_line_per_sender_and_minute(limited, contexts, caplog):
    """A 10-octet datagram whose Uri-Path is not UTF-8: aiocoap's decoder raises
    UnicodeDecodeError out of its datagram callback (a 24-line traceback per datagram).
    Now: counted, one log line per sender per minute, no traceback."""
    datagram = bytes([0x40, 0x02, 0x12, 0x34, 0xB4, 0xFF, 0xFE, 0xFD, 0xC3, 0x28])
    assert len(datagram) == 10
    guarded = guard(limited.context)
    assert guarded is not None and guarded.undecodable == 0  # its own count, whatever ran before
    other = await Lwm2mServer.create_udp(("127.0.0.1", 0), limits=LIMITS)  # another server in the process
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctx = await contexts()
    with caplog.at_level(logging.DEBUG):
        for _ in range(100):
            sock.sendto(datagram, ("127.0.0.1", limited.port))
        sock.sendto(datagram, ("127.0.0.1", other.port))
        # a clean Register after them: answered, and by then every datagram was read
        await clean_register_works(ctx, limited)
        await clean_register_works(ctx, other)
    sock.close()
    other_guard = guard(other.context)
    await other.close()
    assert guarded.undecodable == 100 and other_guard is not None and other_guard.undecodable == 1
    # one line per sender per server: the other server's limiter is its own
    lines = [r for r in caplog.records if "dropped" in r.getMessage() and "UDP datagram" in r.getMessage()]
    assert len(lines) == 2 and all("UnicodeDecodeError" in r.getMessage() for r in lines)
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text
