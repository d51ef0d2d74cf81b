"""A hostile customer of the simulated SMSC (second review of issue 14): one account cannot
fill the SMSC for everyone, nor act on another's messages, nor guess passwords at wire
speed, nor send as another account's number in another spelling. Sans-IO core with bytes
(fake transport and clocks) and real loopback sockets."""

from smsc import pdu as P
from smsc.config import Account, SmscConfig
from smsc.smsc_connection import SmscConnection
from smsc.server import SimulatedSmsc
from smsc.smsc_core import SmscCore

from waiting import until
from test_smsc_core import FakeClock, FakeTransport, rig


def _sm(seq, dest, source="15550001", cid=P.SUBMIT_SM):
    return P.ShortMessage(cid, seq, 0, "", 1, 1, source, 1, 1, dest, 0, 0, 0, "", "", 0, 0, 4, 0, b"x").encode()


def test_one_account_cannot_fill_the_queue_for_everyone():
    core, _, _, connect, _ = rig(account_max_queue=5, max_queue=100)
    hog, t_hog = connect("hog")
    for seq in range(1, 11):  # to a number nobody binds for: everything waits
        hog.data_received(_sm(seq, "19990000"))
    statuses = [p.status for p in t_hog.pdus()]
    assert statuses == [P.ESME_ROK] * 5 + [P.ESME_RMSGQFUL] * 5
    other, t_other = connect("other")
    other.data_received(_sm(1, "19990000"))
    assert [p.status for p in t_other.pdus()] == [P.ESME_ROK]
    # the quota frees as the hog's messages leave: cancel one, submit one
    hog.data_received(P.CancelSm(P.CANCEL_SM, 20, 0, "", "", 1, 1, "15550001", 1, 1, "19990000").encode())
    assert [p.status for p in t_hog.pdus()] == [P.ESME_ROK]
    hog.data_received(_sm(21, "19990000"))
    assert [p.status for p in t_hog.pdus()] == [P.ESME_ROK]


def test_one_account_cannot_fill_the_store_bytes_for_everyone():
    core, _, _, connect, _ = rig(account_max_store_bytes=3000, long_payload="pass")
    hog, t_hog = connect("hog")
    big = [(P.TLV_MESSAGE_PAYLOAD, bytes(1000))]
    for seq in (1, 2, 3, 4):
        hog.data_received(P.ShortMessage(P.SUBMIT_SM, seq, 0, "", 1, 1, "15550001", 1, 1, "19990000",
                                         0, 0, 0, "", "", 0, 0, 4, 0, b"", big).encode())
    statuses = [p.status for p in t_hog.pdus()]
    assert statuses[:2] == [P.ESME_ROK] * 2 and statuses[-1] == P.ESME_RMSGQFUL
    other, t_other = connect("other")
    other.data_received(_sm(1, "19990000"))
    assert [p.status for p in t_other.pdus()] == [P.ESME_ROK]


def test_message_ids_are_guessable_so_query_cancel_replace_check_the_owner():
    core, _, _, connect, _ = rig()
    victim, t_v = connect("victim")
    victim.data_received(_sm(1, "19990000"))
    (resp,) = t_v.pdus()
    mid = resp.message_id
    thief, t_t = connect("thief")
    thief.data_received(P.QuerySm(P.QUERY_SM, 2, 0, mid, 1, 1, "15550001").encode())
    thief.data_received(P.CancelSm(P.CANCEL_SM, 3, 0, "", mid, 1, 1, "15550001", 1, 1, "19990000").encode())
    thief.data_received(P.CancelSm(P.CANCEL_SM, 4, 0, "", "", 1, 1, "15550001", 1, 1, "19990000").encode())
    thief.data_received(P.ReplaceSm(P.REPLACE_SM, 5, 0, mid, 1, 1, "15550001", "", "", 0, 0, b"evil").encode())
    assert [(p.command_id, p.status) for p in t_t.pdus()] == [
        (P.QUERY_SM_RESP, P.ESME_RQUERYFAIL), (P.CANCEL_SM_RESP, P.ESME_RCANCELFAIL),
        (P.CANCEL_SM_RESP, P.ESME_RCANCELFAIL), (P.REPLACE_SM_RESP, P.ESME_RREPLACEFAIL)]
    assert core.queued == 1
    victim.data_received(P.QuerySm(P.QUERY_SM, 6, 0, mid, 1, 1, "15550001").encode())
    assert [p.message_state for p in t_v.pdus()] == [P.STATE_ENROUTE]


async def test_a_refused_bind_closes_the_connection_so_passwords_are_not_guessed_on_it():
    import asyncio
    import struct

    from smsc.server import SimulatedSmsc

    async with SimulatedSmsc(SmscConfig(accounts=[Account("server", "right")])) as smsc:
        await smsc.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
        # a burst of guesses in one write: the first is answered, then the SMSC hangs up
        writer.write(b"".join(P.Bind(P.BIND_TRANSCEIVER, seq, 0, "server", guess, "", 0x34, 1, 1, "").encode()
                              for seq, guess in enumerate(["a", "b", "right"], 1)))
        head = await reader.readexactly(16)
        length, cid, status, seq = struct.unpack(">LLLL", head)
        await reader.readexactly(length - 16)
        assert (cid, status, seq) == (P.BIND_TRANSCEIVER_RESP, P.ESME_RINVPASWD, 1)
        assert await reader.read() == b""  # closed: the right guess was never tried
        writer.close()
        assert smsc.binds == []


def _owned_core():
    core = SmscCore(SmscConfig(accounts=[Account("server", "spw", address_range="15550000"),
                                         Account("big", "bpw")]),
                    clock=FakeClock(), monotonic=FakeClock(100.0))

    def connect(system_id, password, address_range=""):
        t = FakeTransport()
        conn = SmscConnection(core, t, lambda cb: cb(), system_id)
        conn.data_received(P.Bind(P.BIND_TRANSCEIVER, 1, 0, system_id, password, "", 0x34, 1, 1, address_range).encode())
        (resp,) = t.pdus()
        assert resp.status == P.ESME_ROK
        return conn, t

    return core, connect


def test_another_spelling_of_an_owned_number_is_still_the_owners():
    core, connect = _owned_core()
    big, t_big = connect("big", "bpw", ".*")
    spellings = ["15550000", "+15550000", "0015550000", "+0015550000", "1555-0000", "+1 555 0000", "(1555)0000"]
    for seq, source in enumerate(spellings, 1):
        big.data_received(_sm(seq, "19990000", source=source))
    assert [p.status for p in t_big.pdus()] == [P.ESME_RINVSRCADR] * len(spellings)
    big.data_received(_sm(50, "19990000", source="19990001"))  # a number nobody owns: fine
    assert [p.status for p in t_big.pdus() if p.command_id == P.SUBMIT_SM_RESP] == [P.ESME_ROK]
    # traffic for the owner's number in 00 form is not handed to another account's ".*" bind
    server, t_server = connect("server", "spw")
    server.data_received(_sm(1, "0015550000", source="15550000"))
    server.data_received(_sm(2, "1555 0000", source="15550000"))
    assert [p.status for p in t_server.pdus()] == [P.ESME_ROK, P.ESME_ROK]
    assert not [p for p in t_big.pdus() if p.command_id == P.DELIVER_SM]


def _multi(seq, n, payload=None, short=b"x"):
    dests = [(1, 1, f"1999{i:05d}") for i in range(n)]
    tlvs = [(P.TLV_MESSAGE_PAYLOAD, payload)] if payload is not None else []
    return P.SubmitMulti(P.SUBMIT_MULTI, seq, 0, "", 1, 1, "15550001", dests, [], 0, 0, 0, "", "", 0, 0, 4, 0,
                         b"" if payload is not None else short, tlvs).encode()


def test_one_submit_multi_cannot_make_tens_of_thousands_of_sms():
    from smsc.smsc_core import MAX_SMS_PER_PDU

    core, _, _, connect, _ = rig()
    hog, t = connect("hog")
    hog.data_received(_multi(1, 254, payload=bytes(255 * 130)))  # 254 x ~255 parts: 36 KB in
    (resp,) = t.pdus()
    assert (resp.command_id, resp.status) == (P.SUBMIT_MULTI_RESP, P.ESME_RINVNUMDESTS)
    assert core.queued == 0 and core.stats.submitted == 0
    hog.data_received(_multi(2, 254))  # a short message to 254 destinations is fine
    hog.data_received(_multi(3, 254, payload=bytes(4 * 130)))  # 4 parts each: 1016 SMS
    hog.data_received(_multi(4, 254, payload=bytes(5 * 130)))  # 5 parts each: 1270, too many
    assert 254 * 4 <= MAX_SMS_PER_PDU < 254 * 5
    assert [p.status for p in t.pdus() if p.command_id == P.SUBMIT_MULTI_RESP] == [
        P.ESME_ROK, P.ESME_ROK, P.ESME_RINVNUMDESTS]
    assert core.stats.submitted == 254 + 254 * 4


def test_one_system_id_has_a_bounded_number_of_binds():
    core, _, _, connect, _ = rig(account_max_binds=2)
    connect("hog")
    first, _ = connect("hog")
    t = FakeTransport()
    SmscConnection(core, t, lambda cb: cb(), "hog").data_received(
        P.Bind(P.BIND_RECEIVER, 1, 0, "hog", "", "", 0x34, 1, 1, "").encode())
    assert [p.status for p in t.pdus()] == [P.ESME_RBINDFAIL] and t.closed
    first.connection_lost()  # one goes: a new bind fits again
    connect("hog")
    connect("other")  # others are not affected


async def test_connections_past_max_connections_are_closed_at_once():
    import asyncio

    async with SimulatedSmsc(SmscConfig(open=True, max_connections=2)) as smsc:
        await smsc.start("127.0.0.1", 0)
        held = [await asyncio.open_connection("127.0.0.1", smsc.port) for _ in range(2)]
        reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
        assert await reader.read() == b""  # closed without a word
        writer.close()
        assert smsc.stats.refused_connections == 1
        held[0][1].close()
        await held[0][1].wait_closed()
        await until(lambda: len(smsc.connections()) == 1, what="the SMSC sees the close")
        reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
        writer.write(P.Bind(P.BIND_TRANSCEIVER, 1, 0, "x", "", "", 0x34, 1, 1, "").encode())
        head = await reader.readexactly(16)
        assert int.from_bytes(head[8:12], "big") == P.ESME_ROK
        writer.close()
        held[1][1].close()


def test_receipts_a_submitter_never_takes_count_against_its_quota():
    core, _, _, connect, _ = rig(account_max_queue=3)
    sender, t_s = connect("sender", P.BIND_TRANSMITTER)  # never takes its receipts
    sink, t_sink = connect("sink", P.BIND_RECEIVER, "19990000")
    for seq in range(1, 6):
        sender.data_received(P.ShortMessage(P.SUBMIT_SM, seq, 0, "", 1, 1, "15550001", 1, 1, "19990000",
                                            0, 0, 0, "", "", 1, 0, 4, 0, b"x").encode())
        for d in t_sink.pdus():  # the sink acknowledges at once: a receipt is made for sender
            sink.data_received(P.Bare(P.DELIVER_SM_RESP, d.sequence).encode())
    assert [p.status for p in t_s.pdus()] == [P.ESME_ROK] * 3 + [P.ESME_RMSGQFUL] * 2
    assert core.stats.receipts == 0 and core.queued == 3  # three receipts wait for a receiver


def test_binding_in_a_loop_does_not_walk_the_queue_each_time(monkeypatch):
    core, _, mono, connect, _ = rig()
    sender, t_s = connect("sender", P.BIND_TRANSMITTER)
    for seq in range(1, 201):
        sender.data_received(_sm(seq, f"1999{seq:05d}"))  # nobody receives: all wait
    assert len(core._waiting) == 200
    walked = []
    real = SmscCore._serves
    monkeypatch.setattr(SmscCore, "_serves", lambda self, conn, dest: walked.append(dest) or real(self, conn, dest))
    for _ in range(10):  # bind, drop, bind again...
        conn, _t = connect("looper", P.BIND_RECEIVER, "2.*")
        conn.connection_lost()
    assert len(walked) == 200  # one pass, not ten
    mono.t += 1.0
    walked.clear()
    conn, t = connect("looper", P.BIND_RECEIVER, "1999.*")  # a second later: a new pass ...
    assert len(walked) == 200
    core.tick()
    assert len([p for p in t.pdus() if p.command_id == P.DELIVER_SM]) == 64  # ... and at once, a window


def test_in_open_mode_a_stranger_cannot_send_as_an_accounts_number():
    core = SmscCore(SmscConfig(open=True, accounts=[Account("server", "spw", address_range="15550000")]),
                    clock=FakeClock(), monotonic=FakeClock(100.0))
    t = FakeTransport()
    stranger = SmscConnection(core, t, lambda cb: cb(), "stranger")
    stranger.data_received(P.Bind(P.BIND_TRANSMITTER, 1, 0, "stranger", "", "", 0x34, 1, 1, "").encode())
    stranger.data_received(_sm(2, "19990000", source="+15550000"))
    stranger.data_received(_sm(3, "19990000", source="19990001"))
    assert [p.status for p in t.pdus()] == [P.ESME_ROK, P.ESME_RINVSRCADR, P.ESME_ROK]


def test_an_account_whose_password_no_bind_can_carry_is_a_config_error():
    import pytest

    for bad in ("pässwört€", "much-too-long", "a\0b"):
        with pytest.raises(ValueError, match="password"):
            Account("server", bad)
    Account("server", "pässwö")  # latin-1, 8 octets at most: fine


def test_an_absolute_validity_that_is_no_date_is_refused():
    from smsc.smpp_time import parse_validity
    import pytest

    assert parse_validity("261201120000000+", 0.0, 0.0) > 0
    for bad in ("261301120000000+", "261200120000000+", "261201250000000+", "261201120000099+"):
        with pytest.raises(ValueError):
            parse_validity(bad, 0.0, 0.0)
    core, _, _, connect, _ = rig()
    c, t = connect("esme")
    c.data_received(P.ShortMessage(P.SUBMIT_SM, 2, 0, "", 1, 1, "15550001", 1, 1, "19990000",
                                   0, 0, 0, "", "261301120000000+", 0, 0, 4, 0, b"x").encode())
    assert [p.status for p in t.pdus()] == [P.ESME_RINVEXPIRY]


def test_an_unrestricted_account_cannot_bind_for_an_owned_number():
    core, connect = _owned_core()
    for rng in ("15550000", "+15550000"):
        t = FakeTransport()
        SmscConnection(core, t, lambda cb: cb(), "big").data_received(
            P.Bind(P.BIND_RECEIVER, 1, 0, "big", "bpw", "", 0x34, 1, 1, rng).encode())
        assert [p.status for p in t.pdus()] == [P.ESME_RBINDFAIL]
    connect("big", "bpw", "19990000")  # a number nobody owns
    connect("server", "spw", "15550000")  # the owner


def test_an_accounts_throttle_is_shared_by_its_binds():
    mono = FakeClock(100.0)
    core = SmscCore(SmscConfig(accounts=[Account("app", "pw", throttle=10)]), clock=FakeClock(), monotonic=mono)
    conns = []
    for _ in range(3):  # more binds must not mean more throughput
        t = FakeTransport()
        c = SmscConnection(core, t, lambda cb: cb(), "app")
        c.data_received(P.Bind(P.BIND_TRANSMITTER, 1, 0, "app", "pw", "", 0x34, 1, 1, "").encode())
        assert [p.status for p in t.pdus()] == [P.ESME_ROK]
        conns.append((c, t))
    for seq, (c, _) in enumerate(conns, 2):
        c.data_received(_sm(seq, "19990000"))
    assert [p.status for _, t in conns for p in t.pdus()] == [P.ESME_ROK, P.ESME_RTHROTTLED, P.ESME_RTHROTTLED]
    mono.t += 0.2  # a fifth of a second at 10/s: room again (the bucket holds one)
    conns[2][0].data_received(_sm(9, "19990000"))
    assert [p.status for p in conns[2][1].pdus()] == [P.ESME_ROK]


def test_wrong_passwords_from_one_host_make_it_wait():
    core, connect = _owned_core()
    mono = core.monotonic

    def bind(password, peer="10.0.0.9:4000"):
        t = FakeTransport()
        SmscConnection(core, t, lambda cb: cb(), peer).data_received(
            P.Bind(P.BIND_TRANSMITTER, 1, 0, "server", password, "", 0x34, 1, 1, "").encode())
        return [p.status for p in t.pdus()][0]

    assert [bind(g) for g in ("a", "b", "c")] == [P.ESME_RINVPASWD] * 3
    assert bind("spw") == P.ESME_RBINDFAIL  # the right one, but this host must wait first
    assert bind("spw", peer="10.0.0.7:4000") == P.ESME_ROK  # the account's own ESME elsewhere
    mono.t += 1.0
    assert bind("spw") == P.ESME_ROK  # waited: the right password binds, the count resets
    assert [bind(g) for g in ("a", "b", "c")] == [P.ESME_RINVPASWD] * 3


def test_pipelined_submit_multi_hand_the_turn_to_other_connections():
    core, _, _, connect, later = rig()
    hog, t = connect("hog")
    # one read: four submit_multi of 1,016 SMS each
    hog.data_received(b"".join(_multi(seq, 254, payload=bytes(4 * 130)) for seq in range(1, 5)))
    assert len(t.pdus()) == 3 and core.stats.submitted == 3 * 1016  # then it yielded
    assert len(later) == 1 and not t.reading
    later.pop()()  # the loop comes back to it
    assert [p.sequence for p in t.pdus() if p.command_id == P.SUBMIT_MULTI_RESP] == [4]


def test_a_bind_that_trickles_bytes_of_a_pdu_is_still_idle():
    core, _, mono, connect, _ = rig(idle_timeout=60.0)
    conn, t = connect("slow")
    frame = P.Bare(P.ENQUIRE_LINK, 7).encode()
    for i in range(len(frame) - 1):  # one byte every 30 s, never a whole PDU
        mono.t += 30.0
        conn.data_received(frame[i : i + 1])
        core.tick()
    assert t.closed and t.pdus()[-1].command_id == P.UNBIND
    live, t2 = connect("live")
    for _ in range(3):  # a whole enquire_link every 30 s keeps a bind
        mono.t += 30.0
        live.data_received(P.Bare(P.ENQUIRE_LINK, 8).encode())
        core.tick()
    assert not t2.closed


def test_one_host_cannot_hold_more_than_its_share_of_unbound_connections():
    core, _, _, _, later = rig(host_max_unbound=2)

    def open_from(peer):
        t = FakeTransport()
        return SmscConnection(core, t, later.append, peer), t

    (a, _), (b, _) = open_from("10.0.0.1:4001"), open_from("10.0.0.1:4002")
    third, t3 = open_from("10.0.0.1:4003")
    assert t3.closed and core.stats.refused_connections == 1  # closed at once, no bind read
    other, t_other = open_from("10.0.0.2:4001")  # another host is not affected
    assert not t_other.closed
    # a bound connection no longer counts (account_max_binds bounds those): room for one more
    a.data_received(P.Bind(P.BIND_TRANSCEIVER, 1, 0, "a", "", "", 0x34, 1, 1, "").encode())
    assert a.session.bound
    fourth, t4 = open_from("10.0.0.1:4004")
    assert not t4.closed
    # and one that closes before binding frees its place too
    b.connection_lost()
    fifth, t5 = open_from("10.0.0.1:4005")
    assert not t5.closed
    sixth, t6 = open_from("10.0.0.1:4006")
    assert t6.closed and core.stats.refused_connections == 2
