"""What the hardware tests prove on a real modem (``--modem PORT``), and on every run against
the modem emulator (see conftest.py):

* the AT channel and parser cope with this modem's identification, echo and URCs
  (test_identify), and ``modem-info`` can read every field;
* the driver's start-up sequence works on it: PIN, registration, PDU mode, storage, new
  message indications with the profile chosen from +CGMM (test_start);
* binary SMS go out and come back through the operator's network, 1-part and
  concatenated, with the payload intact (test_loop_*; on a real modem they need
  ``--peer-msisdn``).
"""

from __future__ import annotations

import asyncio

import pytest

from lwm2m_sms.bearer import InboundSms
from modems.channel import AtChannel
from modems.driver import ModemDriver
from modems.info import format_table, query_info


async def test_identify(modem_port, request):
    ch = AtChannel(modem_port, baudrate=request.config.getoption("--baudrate"))
    await ch.open()
    try:
        await ch.command("AT", timeout=3)
        await ch.command("ATE0")
        await ch.command("AT+CMEE=1", check=False)
        info = await query_info(ch)
    finally:
        await ch.close()
    print(format_table(info))
    assert info.manufacturer and info.model and info.imei


async def test_start(modem_config):
    drv = ModemDriver(modem_config)
    await drv.start()
    try:
        print(drv.identity, drv.profile.name, "CMT" if drv.use_cmt else "CMTI")
        assert drv.registration in (1, 5)
    finally:
        await drv.close()


async def _loop(modem_config, peer: str, payload: bytes, loop_timeout: float) -> InboundSms:
    drv = ModemDriver(modem_config)
    got: asyncio.Queue[InboundSms] = asyncio.Queue()

    async def on_sms(sms: InboundSms) -> None:
        await got.put(sms)

    drv.set_receiver(on_sms)
    await drv.start()
    try:
        sub = await drv.send(peer, payload)
        outcome = await asyncio.wait_for(sub.outcome, 120)
        assert outcome.ok, outcome.detail
        while True:
            sms = await asyncio.wait_for(got.get(), loop_timeout)
            if sms.payload == payload:
                return sms
    finally:
        await drv.close()


async def test_loop_binary_one_part(modem_config, peer_msisdn, request):
    payload = b"\x40\x01\x00\x01" + bytes(range(0x80, 0x80 + 60))  # a CoAP-ish binary message
    sms = await _loop(modem_config, peer_msisdn, payload, request.config.getoption("--loop-timeout"))
    assert sms.segments == 1


async def test_loop_binary_concatenated(modem_config, peer_msisdn, request):
    payload = bytes(range(256)) + b"\x00\xff" * 20  # 296 octets: 3 SMS
    sms = await _loop(modem_config, peer_msisdn, payload, request.config.getoption("--loop-timeout"))
    assert sms.segments == 3
