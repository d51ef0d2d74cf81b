"""Third-party check of the emulator: python-gsmmodem-new's GsmModem (its own start-up
sequence, its own PDU codec and text-mode parser, its own serial thread) connects to the
emulator's pty, sends a text SMS through it and receives one."""

from __future__ import annotations

import asyncio
import threading

import gsmmodem.modem
import pytest

from lwm2m_sms.sms.tpdu import DCS_GSM7

from waiting import until

from .conftest import MODEM, PEER


@pytest.mark.parametrize("text_mode", [False, True], ids=["pdu-mode", "text-mode"])
async def test_gsmmodem_sends_and_receives_text(make_emulator, modem_link, net, text_mode):
    emu = await make_emulator()
    received: list = []
    got = threading.Event()

    def on_sms(sms) -> None:
        received.append((sms, threading.get_ident()))
        got.set()

    seen: list = []

    async def peer_rx(seg) -> None:
        seen.append(seg)

    from lwm2m_sms.bearer import LoopbackBearer

    peer = LoopbackBearer(net, PEER)
    peer.set_segment_receiver(peer_rx)
    await peer.start()
    modem = gsmmodem.modem.GsmModem(emu.path, 115200, smsReceivedCallbackFunc=on_sms)
    modem.smsTextMode = text_mode
    # the notification thread that ran on_sms deletes the SMS next: know when that finished,
    # so the port is not closed under its AT+CMGD (status reports are deleted too, by others)
    deleted = threading.Event()
    delete = modem.deleteStoredSms

    def delete_then_signal(*args, **kwargs):
        try:
            return delete(*args, **kwargs)
        finally:
            if any(thread == threading.get_ident() for _, thread in received):
                deleted.set()

    modem.deleteStoredSms = delete_then_signal
    try:
        await asyncio.to_thread(modem.connect)
        assert (await asyncio.to_thread(lambda: modem.manufacturer)) == "Quectel"
        await asyncio.to_thread(modem.sendSms, PEER, "Hello from gsmmodem")
        await net.drain()
        assert len(seen) == 1 and seen[0].dcs == DCS_GSM7
        from lwm2m_sms.sms.tpdu import SmsSubmit

        assert SmsSubmit(seen[0].recipient, seen[0].user_data, seen[0].dcs).text == "Hello from gsmmodem"
        assert str(seen[0].sender) == MODEM
        from lwm2m_sms.sms.tpdu import SmsDeliver

        # gsmmodem asks for status reports in SR memory (+CNMI ds=2): let it read that one
        # first, as it takes a URC arriving inside its +CMGR exchange for part of the answer
        # (in text mode it asks for no report)
        if not text_mode:
            await until(lambda: not emu.core.sr_store and emu.core.stats["reports_stored"] == 1)
        deliver = SmsDeliver.from_text(PEER, "Hello back")
        await peer.send_segment(
            type(seen[0])(deliver.originator, seen[0].sender, deliver.user_data, deliver.dcs)
        )
        assert await asyncio.to_thread(got.wait, 20)
        assert received[0][0].text == "Hello back" and received[0][0].number == PEER
        assert await asyncio.to_thread(deleted.wait, 20)
        assert emu.core.store == {}
    finally:
        await asyncio.to_thread(modem.close)
        await peer.close()
