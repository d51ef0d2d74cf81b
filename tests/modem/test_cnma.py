"""+CNMA as 3GPP TS 27.005 3.4.4 has it, against a modem that follows it to the letter
(``Quirks(strict_cnma=True)``): a +CMT that gets no +CNMA in time is refused to the network
(RP-ERROR; the network delivers it again later) and +CNMI <mt> and <ds> are set to 0, after
which SMS are stored with no indication at all, until someone sets +CNMI again.

The driver therefore answers every +CMT: RP-ACK when it took the SMS, RP-ERROR
(``AT+CNMA=2,3`` + SMS-DELIVER-REPORT with TP-FCS FF) when it did not, and sets +CNMI again
(then drains the memory) when a late +CNMA is answered ``+CMS ERROR: 340``.
"""

from __future__ import annotations

from typing import Any

from lwm2m_sms.bearer import InboundSms, SmsSegment
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from modems.at import AtParser, Final, Prompt
from modems.driver import ModemDriver
from modems.emulator_core import EmulatorCore, Quirks

from waiting import until

from .conftest import MODEM, PEER, bounded, config

STRICT = Quirks(strict_cnma=True)


def talk(core: EmulatorCore, command: str) -> list:
    p = AtParser()
    p.command_sent(command)
    core.receive_data(command.encode() + b"\r")
    p.receive_data(core.data_to_send())
    return p.events()


def cmt_session(core: EmulatorCore) -> None:
    talk(core, "ATE0")
    talk(core, "AT+CSMS=1")
    talk(core, "AT+CNMI=2,2,0,1,0")


def arrive(core: EmulatorCore, payload: bytes = b"x") -> int | None:
    return core.deliver(SmsSegment(parse_msisdn(PEER), parse_msisdn(MODEM), UserData(payload)))


def settled(core: EmulatorCore) -> list[int]:
    return [e.handle for e in core.take_effects() if hasattr(e, "handle")]


# -- the emulator's core, driven by its own time (tick) -----------------------------------


def test_strict_modem_without_cnma_refuses_the_sms_and_stops_indications():
    core = EmulatorCore(MODEM, quirks=STRICT, ack_timeout=5, network_retry=30)
    cmt_session(core)
    handle = arrive(core)
    assert b"+CMT: " in core.data_to_send()
    core.tick(5.0)
    # refused to the network (not stored, not settled), indications off
    assert core.store == {} and settled(core) == []
    assert core.cnmi[1] == 0 and core.cnmi[3] == 0 and core.stats["rp_errors"] == 1
    # the network's retry: stored with no +CMTI (mt=0), the network acknowledged at last
    core.tick(35.0)
    assert len(core.store) == 1 and core.data_to_send() == b""
    assert settled(core) == [handle]
    assert talk(core, "AT+CNMA")[-1].code == 340


def test_lenient_modem_without_cnma_stores_and_announces():
    core = EmulatorCore(MODEM, ack_timeout=5)
    cmt_session(core)
    arrive(core)
    core.data_to_send()
    core.tick(5.0)
    assert len(core.store) == 1 and core.cnmi[1] == 2 and b"+CMTI" in core.data_to_send()


def test_negative_cnma_makes_the_network_retry_and_keeps_indications():
    core = EmulatorCore(MODEM, quirks=STRICT, ack_timeout=5, network_retry=30)
    cmt_session(core)
    handle = arrive(core)
    core.data_to_send()
    assert talk(core, "AT+CNMA=2")[-1] .ok
    assert core.stats["rp_errors"] == 1 and core.cnmi[1] == 2 and settled(core) == []
    core.tick(29.0)
    assert core.data_to_send() == b""
    core.tick(30.0)  # the network's retry shows as a +CMT again
    assert b"+CMT: " in core.data_to_send() and core.stats["network_retries"] == 1
    assert talk(core, "AT+CNMA")[-1] .ok
    assert settled(core) == [handle] and core.store == {}


def test_negative_cnma_with_a_deliver_report_pdu():
    core = EmulatorCore(MODEM, quirks=STRICT, network_retry=30)
    cmt_session(core)
    arrive(core)
    core.data_to_send()
    assert talk(core, "AT+CNMA=2,3") == [Prompt()]
    core.receive_data(b"00FF00\x1a")
    assert b"OK" in core.data_to_send() and core.stats["rp_errors"] == 1
    # a PDU that is not an SMS-DELIVER-REPORT of the length given: refused, still unacked
    arrive(core, b"y")
    assert b"+CMT: " in core.data_to_send()
    assert talk(core, "AT+CNMA=2,3") == [Prompt()]
    core.receive_data(b"01FF\x1a")
    assert b"+CMS ERROR: 304" in core.data_to_send()
    assert talk(core, "AT+CNMA=1")[-1] .ok


# -- the driver against the strict modem on a pty -----------------------------------------


async def test_an_sms_not_taken_is_refused_and_comes_again(make_emulator: Any, peer: Any) -> None:
    """Before: no +CNMA for an SMS the receiver failed on; the strict modem reset +CNMI mt
    to 0 after its wait, and the network's retry was stored silently: never handed up."""
    core = EmulatorCore(MODEM, quirks=STRICT, ack_timeout=2.0, network_retry=0.2)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM)
    got: list[bytes] = []

    async def receiver(sms: InboundSms) -> None:
        got.append(sms.payload)
        if len(got) == 1:
            raise RuntimeError("not now")

    drv.set_receiver(receiver)
    try:
        await drv.start()
        assert drv.use_cmt
        await peer.send(MODEM, b"once refused")
        await until(lambda: len(got) == 2, what="the network's retry handed up")
        await until(lambda: drv.counters["cnma"] == 1, what="the retry acknowledged")
        assert got == [b"once refused", b"once refused"]
        assert drv.counters["cnma_negative"] == 1
        assert core.stats["rp_errors"] == 1 and core.stats["network_retries"] == 1
        assert core.stats["cnmi_resets"] == 0 and core.cnmi[1] == 2 and core.store == {}
    finally:
        await bounded(drv.close(), "driver")


async def test_a_modem_without_the_pdu_form_gets_the_bare_negative_cnma(make_emulator: Any, peer: Any) -> None:
    core = EmulatorCore(MODEM, quirks=Quirks(strict_cnma=True, cnma_pdu=False), network_retry=0.2)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM)
    got: list[bytes] = []

    async def receiver(sms: InboundSms) -> None:
        got.append(sms.payload)
        if len(got) <= 2:
            raise RuntimeError("not now")

    drv.set_receiver(receiver)
    try:
        await drv.start()
        await peer.send(MODEM, b"twice refused")
        await until(lambda: drv.counters["cnma"] == 1, what="the second retry taken")
        assert got == [b"twice refused"] * 3 and not drv._nack_pdu
        assert drv.counters["cnma_negative"] == 2 and core.stats["rp_errors"] == 2
        assert core.stats["cnmi_resets"] == 0 and core.cnmi[1] == 2
    finally:
        await bounded(drv.close(), "driver")


async def test_a_late_cnma_sets_cnmi_again(make_emulator: Any, peer: Any) -> None:
    """The receiver takes longer than the modem waits: +CNMA is answered +CMS ERROR: 340,
    the modem has reset +CNMI. The driver sets it again, so the next SMS is a +CMT again, and
    drains what was stored silently meanwhile (the refused SMS's retry: at least once)."""
    core = EmulatorCore(MODEM, quirks=STRICT, ack_timeout=0.3, network_retry=0.2)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM)
    got: list[bytes] = []

    async def slow(sms: InboundSms) -> None:
        got.append(sms.payload)
        if len(got) == 1:
            await until(lambda: core.store, what="the modem gave up and stored the retry")

    drv.set_receiver(slow)
    try:
        await drv.start()
        await peer.send(MODEM, b"slow")
        await until(lambda: drv.counters["cnmi_restored"] == 1, what="+CNMI set again after 340")
        assert core.cnmi[1] == 2 and core.cnmi[3] == 1 and core.stats["cnmi_resets"] == 1
        await until(lambda: got.count(b"slow") == 2 and not core.store, what="the silent store drained")
        await peer.send(MODEM, b"next")
        await until(lambda: b"next" in got, what="the next SMS as a +CMT")
        await until(lambda: drv.counters["cnma"] == 1, what="the next SMS acknowledged")
        assert core.store == {}
    finally:
        await bounded(drv.close(), "driver")
