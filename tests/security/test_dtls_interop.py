"""The DTLS engine of mode 1 (tinydtls via DTLSSocket, driven by DtlsChannel exactly as over
SMS) against a third-party DTLS client: libcoap's coap-client (Debian libcoap3-bin, built
with GnuTLS and with OpenSSL), PSK, over real UDP on loopback. The channel does not know
it is UDP: its transmit sends a datagram instead of an SMS."""

from __future__ import annotations

import asyncio
import shutil

import pytest

pytest.importorskip("DTLSSocket", reason="needs DTLSSocket (pip install DTLSSocket)")

from aiocoap import ACK, CONTENT, Message  # noqa: E402

from lwm2m_sms.security.dtls import DtlsChannel  # noqa: E402
from lwm2m_sms.security.policy import PskKeys  # noqa: E402

IDENTITY = "lwm2m-sms-device"
KEY = "secretPSK-012345"  # tinydtls takes PSKs of at most 16 octets (DTLS_PSK_MAX_KEY_LEN)


class DtlsUdpServer(asyncio.DatagramProtocol):
    """A CoAP server of one resource behind DtlsChannel, one channel per client address."""

    def __init__(self) -> None:
        self.channels: dict[tuple, DtlsChannel] = {}
        self.requests: list[Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        asyncio.get_running_loop().create_task(self._handle(data, addr))

    async def _handle(self, data: bytes, addr) -> None:
        ch = self.channels.get(addr)
        if ch is None:
            async def transmit(wire: bytes, addr=addr) -> None:
                self.transport.sendto(wire, addr)

            ch = self.channels[addr] = DtlsChannel(f"udp:{addr}", PskKeys(IDENTITY.encode(), KEY.encode()), transmit)
        plain = await ch.open(data)
        if plain is None:
            return
        request = Message.decode(plain)
        self.requests.append(request)
        response = Message(code=CONTENT, payload=b"lwm2m-sms over tinydtls")
        response.mtype, response.mid, response.token = ACK, request.mid, request.token
        self.transport.sendto(await ch.seal(response.encode()), addr)


async def libcoap_get(client: str, key: str, block: str) -> "tuple[DtlsUdpServer, bytes, bytes]":
    """``client`` (libcoap) GETs /3/0/0 with the PSK ``key`` from a DTLS server on a UDP
    port of its own; the server (with what it received) and the client's output."""
    if shutil.which(client) is None:
        pytest.skip(f"{client} not installed (Debian libcoap3-bin)")
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(DtlsUdpServer, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        proc = await asyncio.create_subprocess_exec(
            client, "-m", "get", "-u", IDENTITY, "-k", key, "-B", block, f"coaps://127.0.0.1:{port}/3/0/0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        transport.close()
    return server, out, err


@pytest.mark.parametrize("client", ["coap-client-gnutls", "coap-client-openssl"])
async def test_libcoap_client_reads_over_dtls_psk(client):
    server, out, err = await libcoap_get(client, KEY, "20")
    assert b"lwm2m-sms over tinydtls" in out, (out, err)
    assert [r.opt.uri_path for r in server.requests] == [("3", "0", "0")]
    assert all(ch.handshakes == 1 for ch in server.channels.values())


async def test_wrong_psk_from_libcoap_gets_no_answer():
    server, out, _ = await libcoap_get("coap-client-gnutls", "not-the-key", "3")
    assert b"lwm2m-sms" not in out
    assert server.requests == []
