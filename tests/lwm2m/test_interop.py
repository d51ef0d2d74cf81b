"""Interop with an independent LwM2M implementation: Telefonica's lwm2m-node-lib 1.4.0
(npm; a Node.js client and server on node-coap).

- its client registers with our server, which reads and writes /3/0/0, then it
  de-registers;
- our client simulator registers with its server, which reads /3/0/0 from it; ours then
  de-registers.

Needs ``node`` and the package installed next to the scripts:
``npm ci --prefix tests/lwm2m/interop``. Without them the tests skip, saying so.
"""

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from lwm2m_sms.lwm2m.client import Lwm2mClient, udp_context
from lwm2m_sms.lwm2m.server import Lwm2mServer

HERE = Path(__file__).parent / "interop"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="interop: node (Node.js) is not installed"),
    pytest.mark.skipif(
        not (HERE / "node_modules" / "lwm2m-node-lib").is_dir(),
        reason="interop: lwm2m-node-lib not installed; run `npm ci --prefix tests/lwm2m/interop`",
    ),
]


async def start_node(*args):
    return await asyncio.create_subprocess_exec(
        "node", *args, cwd=HERE, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )


async def line_starting(proc, prefix, timeout=30):
    """The next stdout line that starts with ``prefix`` (node-lib logs JSON lines too)."""
    async def read():
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise AssertionError(f"node exited before printing {prefix}")
            text = line.decode().strip()
            if text.startswith("ERROR"):
                raise AssertionError(text)
            if text.startswith(prefix):
                return text
    return await asyncio.wait_for(read(), timeout)


def free_udp_port():
    # lwm2m-node-lib's server needs a port number up front
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_node_client_registers_with_our_server():
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    proc = await start_node("node_client.js", "127.0.0.1", str(server.port), "node-dev")
    try:
        await line_starting(proc, "REGISTERED")
        reg = server.registration("node-dev")
        assert reg.binding == "U" and reg.lifetime == 60 and [l.target for l in reg.objects] == ["/3/0"]
        assert (await server.read("node-dev", "/3/0/0")).value == "node-maker"
        await server.write("node-dev", "/3/0/0", "written-by-lwm2m-sms")
        assert (await server.read("node-dev", "/3/0/0")).value == "written-by-lwm2m-sms"
        proc.stdin.close()
        await line_starting(proc, "UNREGISTERED")
        assert server.registrations() == []
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await server.close()


async def test_our_client_registers_with_node_server():
    port = free_udp_port()
    proc = await start_node("node_server.js", str(port))
    ctx = await udp_context()
    try:
        await line_starting(proc, "LISTENING")
        client = Lwm2mClient(ctx, "py-dev", server=f"coap://127.0.0.1:{port}", lifetime=120)
        await client.start()
        assert await line_starting(proc, "REGISTERED") == "REGISTERED py-dev 120 U"
        assert await line_starting(proc, "READ") == "READ py-dev lwm2m-sms"
        await client.stop()
        assert await line_starting(proc, "DEREGISTERED") == "DEREGISTERED py-dev"
    finally:
        proc.kill()
        await proc.wait()
        await ctx.shutdown()
