"""ModemDriver against the modem emulator over a real pty, the emulator on a loopback SMS
network with a peer bearer on the other side."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m_sms.bearer import DeliveryState, SmsSegment
from lwm2m_sms.errors import BearerError
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from modems.emulator_core import EmulatorCore, Quirks

from waiting import until

from .conftest import MODEM, PEER


async def test_one_part_both_ways(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    assert drv.identity.model == "EC25" and drv.profile.name == "quectel" and drv.use_cmt
    sub = await drv.send(PEER, b"\x40\x01\x12\x34binary\x00\xff")
    assert (await sub.outcome).state is DeliveryState.SUBMITTED
    got = await peer.inbox.wait(1)
    assert got[0].payload == b"\x40\x01\x12\x34binary\x00\xff" and str(got[0].sender) == MODEM
    await peer.send(MODEM, b"\x60\x45\x12\x34reply")
    got = await drv.inbox.wait(1)
    assert got[0].payload == b"\x60\x45\x12\x34reply" and str(got[0].sender) == PEER
    assert emu.core.store == {}  # +CMT acknowledged by +CNMA, never stored


async def test_multi_part_both_ways(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    payload = bytes(range(256)) * 3
    sub = await drv.send(PEER, payload)
    assert sub.segments == 6
    assert (await sub.outcome).ok
    assert (await peer.inbox.wait(1))[0].payload == payload
    await peer.send(MODEM, payload[::-1])
    got = (await drv.inbox.wait(1))[0]
    assert got.payload == payload[::-1] and got.segments == 6


async def test_store_and_read_modem_without_cmt(make_emulator, make_driver, peer):
    emu = await make_emulator(EmulatorCore(MODEM, quirks=Quirks(prompt=b">", supports_cmt=False)))
    drv = await make_driver(emu.path)
    assert not drv.use_cmt
    await peer.send(MODEM, b"A" * 300)
    assert (await drv.inbox.wait(1))[0].payload == b"A" * 300
    await until(lambda: emu.core.store == {})  # deleted after handing up
    sub = await drv.send(PEER, b"over a prompt with no space")
    assert (await sub.outcome).ok


async def test_stored_messages_drained_at_start(make_emulator, make_driver, peer):
    emu = await make_emulator()  # nobody has set +CNMI: the modem stores silently
    await peer.send(MODEM, b"while you were out")
    await peer.send(MODEM, b"L" * 500)
    await peer.network.drain()
    assert len(emu.core.store) == 1 + 4
    drv = await make_driver(emu.path)
    got = await drv.inbox.wait(2)
    assert sorted(s.payload for s in got) == sorted([b"while you were out", b"L" * 500])
    assert emu.core.store == {} and drv.counters["drained"] == 5


async def test_cms_errors_retried_then_fail_fast(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    emu.core.fail_next_sends(2, 500)
    sub = await drv.send(PEER, b"retry me")
    assert (await sub.outcome).state is DeliveryState.SUBMITTED
    assert drv.counters["cms_retries"] == 2
    assert (await peer.inbox.wait(1))[0].payload == b"retry me"
    emu.core.fail_next_sends(1, 304)
    out = await (await drv.send(PEER, b"bad pdu")).outcome
    assert out.state is DeliveryState.FAILED and "304" in out.detail and "invalid PDU" in out.detail
    emu.core.fail_next_sends(10, 512)
    out = await (await drv.send(PEER, b"never")).outcome
    assert out.state is DeliveryState.FAILED and "gave up after 4 attempts" in out.detail
    assert len(drv.outbox) == 0


async def test_status_report_matched_by_mr(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    sub = await drv.send(PEER, b"R" * 200, report=True)
    out = await asyncio.wait_for(sub.outcome, 10)
    assert out.state is DeliveryState.DELIVERED
    assert drv.counters["reports"] == 2
    sub = await drv.send("+15559999999", b"to nobody", report=True)
    out = await asyncio.wait_for(sub.outcome, 10)
    assert out.state is DeliveryState.FAILED


async def test_line_dropped_mid_stream_nothing_lost(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    payloads = [bytes([i]) * (50 + 40 * (i % 5)) for i in range(30)]
    subs = [await drv.send(PEER, p) for p in payloads]
    await until(lambda: peer.inbox.items)  # the line drops with the rest on their way
    await emu.drop_line(down_for=0.3)
    # while the host is reconnecting, SMS arrive for it: stored on the SIM, drained later
    await peer.send(MODEM, b"during the outage")
    outcomes = await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 30)
    assert all(o.ok for o in outcomes)
    got = await peer.inbox.wait(len(payloads))
    assert {s.payload for s in got} == set(payloads)
    assert (await drv.inbox.wait(1))[0].payload == b"during the outage"
    assert drv.counters["reconnects"] >= 1 and emu.lines_dropped == 1
    # and the state was re-established: +CMT routing works on the new line
    await peer.send(MODEM, b"after")
    assert (await drv.inbox.wait(2))[1].payload == b"after"


async def test_pin_required(make_emulator, make_driver, peer):
    emu = await make_emulator(EmulatorCore(MODEM, pin="1234"), registration_delay=0.2)
    with pytest.raises(BearerError, match="SIM PIN required"):
        await make_driver(emu.path)
    with pytest.raises(BearerError, match="refused the PIN") as err:
        await make_driver(emu.path, pin="9999")
    assert "9999" not in str(err.value)
    drv = await make_driver(emu.path, pin="1234")
    assert (await (await drv.send(PEER, b"unlocked")).outcome).ok


async def test_pin_never_logged(make_emulator, make_driver, caplog):
    caplog.set_level("DEBUG")
    emu = await make_emulator(EmulatorCore(MODEM, pin="4321"))
    drv = await make_driver(emu.path, pin="4321")
    assert "4321" not in caplog.text and "4321" not in repr(drv.config)


async def test_slow_registration_waited_for(make_emulator, make_driver, peer):
    emu = await make_emulator(EmulatorCore(MODEM, registered=False))
    emu.set_registration(2)  # searching
    loop = asyncio.get_running_loop()
    # the scenario, not a wait: the network takes half a second to register the modem
    loop.call_later(0.5, emu.set_registration, 1)
    drv = await make_driver(emu.path)
    assert drv.registration == 1


async def test_no_registration_clear_error(make_emulator, make_driver):
    emu = await make_emulator(EmulatorCore(MODEM, registered=False))
    emu.set_registration(3)
    with pytest.raises(BearerError, match=r"not registered .* after 0.3 s \(\+CREG stat 3: registration denied\)"):
        await make_driver(emu.path, registration_timeout=0.3)


async def test_garbage_and_stray_urcs_do_not_disturb(make_emulator, make_driver, peer):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    emu.inject(b"\r\n^RSSI:12\r\n" + b"\xfe" * 9000 + b"\r\n+QIND: SMS DONE\r\n")
    assert (await (await drv.send(PEER, b"still fine")).outcome).ok
    await peer.send(MODEM, b"and back")
    assert (await drv.inbox.wait(1))[0].payload == b"and back"


async def test_slow_responses(make_emulator, make_driver, peer):
    emu = await make_emulator(response_delay=0.05)
    drv = await make_driver(emu.path)
    assert (await (await drv.send(PEER, b"slowly")).outcome).ok


async def test_sim_full_pushes_back_on_the_network(make_emulator, modem_link):
    emu = await make_emulator(EmulatorCore(MODEM, sim_capacity=2))
    seg = SmsSegment(parse_msisdn(PEER), parse_msisdn(MODEM), UserData(b"x"))
    await emu._from_network(seg)
    await emu._from_network(seg)
    with pytest.raises(BearerError, match="full"):
        await emu._from_network(seg)


async def test_outbox_resent_after_restart(make_emulator, make_driver, peer, tmp_path):
    from lwm2m_sms.outbox import Outbox

    box = Outbox(str(tmp_path / "out.db"))
    box.add("modem-old-1", PEER, b"left over", ports=None, report=False)
    emu = await make_emulator()
    drv = await make_driver(emu.path, start=False)
    drv.outbox = box
    await drv.start()
    assert (await peer.inbox.wait(1))[0].payload == b"left over"
    await until(lambda: len(box) == 0)


def _part(ref: int, total: int, seq: int, data: bytes) -> SmsSegment:
    from lwm2m_sms.sms.udh import Concat, Udh

    return SmsSegment(
        parse_msisdn(PEER), parse_msisdn(MODEM), UserData(data, Udh.build(concat=Concat(ref, total, seq)))
    )


async def test_stored_parts_deleted_only_when_whole(make_emulator, make_driver, modem_link):
    emu = await make_emulator(EmulatorCore(MODEM, quirks=Quirks(supports_cmt=False)))
    drv = await make_driver(emu.path)
    await emu._from_network(_part(7, 2, 1, b"first half "))
    await until(lambda: drv._held)  # (the driver's parts waiting for the rest: no public view)
    assert len(emu.core.store) == 1  # read, fed to the reassembler, kept on the SIM
    # the program stops here; a new one drains the part and completes the message
    await drv.close()
    drv2 = await make_driver(emu.path)
    await emu._from_network(_part(7, 2, 2, b"second half"))
    assert (await drv2.inbox.wait(1))[0].payload == b"first half second half"
    await until(lambda: emu.core.store == {})


async def test_slow_sim_retried(make_emulator, make_driver):
    core = EmulatorCore(MODEM)
    core.sim_busy = 2
    emu = await make_emulator(core)
    drv = await make_driver(emu.path, profile="generic")
    assert drv.profile.name == "generic" and core.sim_busy == 0


async def test_unencodable_recipient_refused_at_send(make_emulator, make_driver):
    from lwm2m_sms.errors import Lwm2mSmsError

    emu = await make_emulator()
    drv = await make_driver(emu.path)
    with pytest.raises(Lwm2mSmsError):
        await drv.send("NOT-A-NUMBER-AT-ALL-TOO-LONG", b"x")
    assert len(drv.outbox) == 0


async def test_send_waits_while_network_lost(make_emulator, make_driver, peer, caplog):
    caplog.set_level("INFO", logger="modems.driver")
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    emu.set_registration(2)  # +CREG: 2 URC: searching
    await until(lambda: drv.registration == 2)
    sub = await drv.send(PEER, b"after the tunnel")
    await until(lambda: "waits for network registration" in caplog.text)
    assert not sub.outcome.done() and emu.core.stats["sent"] == 0
    emu.set_registration(5)  # roaming will do
    assert (await asyncio.wait_for(sub.outcome, 10)).ok
    assert drv.counters["cms_retries"] == 0


async def test_close_keeps_unsent_in_outbox_for_next_start(make_emulator, make_driver, peer):
    emu = await make_emulator(response_delay=0.02)
    drv = await make_driver(emu.path)
    subs = [await drv.send(PEER, bytes([i]) * 20) for i in range(5)]
    await drv.close()
    outcomes = [s.outcome.result() for s in subs]
    unsent = [o for o in outcomes if "kept in the outbox" in o.detail]
    assert len(drv.outbox) == len(unsent) >= 1
    await drv.start()
    want = {bytes([i]) * 20 for i in range(5)}
    # a part on the wire at close may arrive twice: compare sets
    await until(lambda: {s.payload for s in peer.inbox.items} == want)
    await until(lambda: len(drv.outbox) == 0)


async def test_command_timeout_then_channel_resyncs(make_emulator):
    from modems.channel import AtChannel, CommandTimeout

    emu = await make_emulator(response_delay=0.5)
    ch = AtChannel(emu.path)
    await ch.open()
    try:
        with pytest.raises(CommandTimeout, match="no answer to AT\\+CGMI"):
            await ch.command("AT+CGMI", timeout=0.1)
        emu.response_delay = 0
        resp = await ch.command("AT+CGMM", timeout=5)
        # the late "Quectel ... OK" of +CGMI is not taken for +CGMM's answer
        assert [i.line for i in resp.lines if i.line != "AT+CGMM"] == ["EC25"]
    finally:
        await ch.close()


async def test_stored_sms_stay_on_the_sim_until_a_receiver_takes_them(make_emulator, peer):
    from modems.driver import ModemDriver

    from .conftest import MODEM, Inbox, bounded, config

    emu = await make_emulator()
    await peer.send(MODEM, b"while nobody listened")
    await until(lambda: len(emu.core.store) == 1)
    drv = ModemDriver(config(emu.path), MODEM)
    await drv.start()  # no receiver yet: the drain must not delete what it cannot hand up
    try:
        assert len(emu.core.store) == 1
        inbox = Inbox()
        drv.set_receiver(inbox)  # a receiver arrives: the SIM is drained for it
        assert [s.payload for s in await inbox.wait(1)] == [b"while nobody listened"]
        await until(lambda: emu.core.store == {})
    finally:
        await bounded(drv.close(), "driver")


async def test_a_refused_pin_is_a_fatal_error_the_reconnect_loop_stops_on(make_emulator, make_driver):
    from modems.driver import PinRefused
    from modems.emulator_core import EmulatorCore

    from .conftest import MODEM

    emu = await make_emulator(EmulatorCore(MODEM, pin="1234"))
    drv = await make_driver(emu.path, start=False, pin="9999")
    with pytest.raises(PinRefused):
        await drv.start()
