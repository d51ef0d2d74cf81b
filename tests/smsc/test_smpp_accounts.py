"""Accounts own their numbers, untrusted address_range patterns run in linear time, and a
client that never reads cannot grow the SMSC's memory: over real loopback sockets."""

import asyncio
import itertools
import re
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc_thread import read_pdu as _read_pdu, smsc_in_thread

from lwm2m_sms.bearer import DeliveryState
from smsc import pdu as P
from smsc.address_range import AddressRange, RangeError
from smsc.config import Account, SmscConfig
from smsc.link import BindRefused
from smsc.server import SimulatedSmsc

from waiting import Inbox

SERVER, DEVICE, OTHER = "+15550000", "+15550101", "+15550202"


def accounts():
    return [
        Account("server", "spw", address_range="15550000"),
        Account("devices", "dpw", address_range=r"^\+?15550[1-9]\d*"),
        Account("big", "bpw"),  # unrestricted: numbers nobody else owns
    ]


@pytest.fixture
async def owned_smsc():
    async with SimulatedSmsc(SmscConfig(accounts=accounts(), retry_min=0.05, retry_max=0.2)) as smsc:
        await smsc.start("127.0.0.1", 0)
        yield smsc


async def raw_bind(port, system_id, password, address_range):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(P.Bind(P.BIND_TRANSCEIVER, 1, 0, system_id, password, "", 0x34, 1, 1, address_range).encode())
    head = await reader.readexactly(16)
    writer.close()
    return struct.unpack(">LLLL", head)[2]


async def test_account_cannot_bind_for_another_accounts_number(owned_smsc, make_link):
    for rng in (SERVER, ".*", r"^\+?1555.*", "15550000|15550101"):
        assert await raw_bind(owned_smsc.port, "devices", "dpw", rng) == P.ESME_RBINDFAIL
    assert owned_smsc.stats.spoofs == 4
    assert await raw_bind(owned_smsc.port, "devices", "wrong", DEVICE) == P.ESME_RINVPASWD
    # within its own range it binds
    await make_link(owned_smsc, DEVICE, system_id="devices", password="dpw", address_range=DEVICE)


async def test_traffic_for_a_number_goes_only_to_its_owner(owned_smsc, make_link):
    server = await make_link(owned_smsc, SERVER, system_id="server", password="spw")
    # an unrestricted account asking for everything gets none of the server's traffic
    big = await make_link(owned_smsc, "+19990000", system_id="big", password="bpw", address_range=".*")
    dev = await make_link(owned_smsc, DEVICE, system_id="devices", password="dpw")
    at_server, at_big = Inbox(), Inbox()
    server.set_receiver(at_server)
    big.set_receiver(at_big)
    subs = [await dev.send(SERVER, b"to server %d" % i) for i in range(11)]
    for s in subs:
        assert (await asyncio.wait_for(s.outcome, 10)).state is DeliveryState.SUBMITTED
    await at_server.wait(11)
    sub = await dev.send("+19990001", b"to nobody's number")  # unowned: the big account may take it
    await asyncio.wait_for(sub.outcome, 10)
    (m,) = await at_big.wait(1)
    assert m.payload == b"to nobody's number" and len(at_server.items) == 11


async def test_account_cannot_send_as_another_accounts_number(owned_smsc, make_link):
    server = await make_link(owned_smsc, SERVER, system_id="server", password="spw")
    inbox = Inbox()
    server.set_receiver(inbox)
    # the device account's link claims the server's number as its source
    spoof = await make_link(owned_smsc, SERVER, system_id="devices", password="dpw", address_range=DEVICE)
    sub = await spoof.send(OTHER, b"forged")
    outcome = await asyncio.wait_for(sub.outcome, 10)
    assert outcome.state is DeliveryState.FAILED and "ESME_RINVSRCADR" in outcome.detail
    # nor as a number no account owns while it is restricted
    spoof2 = await make_link(owned_smsc, "+19990001", system_id="devices", password="dpw", address_range=DEVICE)
    outcome = await asyncio.wait_for((await spoof2.send(SERVER, b"forged")).outcome, 10)
    assert outcome.state is DeliveryState.FAILED and "ESME_RINVSRCADR" in outcome.detail
    # the unrestricted account cannot send as an owned number either
    big = await make_link(owned_smsc, DEVICE, system_id="big", password="bpw", address_range="19990000")
    outcome = await asyncio.wait_for((await big.send(SERVER, b"forged")).outcome, 10)
    assert outcome.state is DeliveryState.FAILED and "ESME_RINVSRCADR" in outcome.detail
    assert owned_smsc.stats.spoofs == 3 and inbox.items == []


async def test_without_accounts_binds_are_refused_unless_open(make_link):
    async with SimulatedSmsc(SmscConfig()) as smsc:
        await smsc.start("127.0.0.1", 0)
        with pytest.raises(BindRefused) as exc:
            await make_link(smsc, DEVICE)
        assert exc.value.status == P.ESME_RINVSYSID
    async with SimulatedSmsc(SmscConfig(open=True)) as smsc:
        await smsc.start("127.0.0.1", 0)
        await make_link(smsc, DEVICE)


# -- address_range: the safe subset --------------------------------------------------------


def test_address_range_subset():
    fleet = AddressRange.parse(r"^\+?15550[1-9].*")
    assert fleet.matches("15550101") and fleet.matches("+15550999") and not fleet.matches("15550000")
    assert AddressRange.parse("+15550001").matches("15550001")
    assert not AddressRange.parse("+15550001").matches("155500011")  # a plain number is exact
    assert AddressRange.parse("1555$").matches("1555") and not AddressRange.parse("1555$").matches("15551")
    assert AddressRange.parse(r"1555\d{4}$").matches("15551234")
    assert AddressRange.parse("[0-4]1|9").matches("41") and AddressRange.parse("[0-4]1|9").matches("99")
    assert not AddressRange.parse("").matches("1")
    for bad in ["(1*)*2", "a", "1(2)", "[a-z]", r"\w+", "1{99}", "[9-1]"]:
        with pytest.raises(RangeError):
            AddressRange.parse(bad)


def test_within():
    fleet = AddressRange.parse(r"^\+?15550[1-9].*")
    assert AddressRange.parse("+15550101").within(fleet)
    assert AddressRange.parse(r"^15550[2-3]\d{2}$").within(fleet)
    assert not AddressRange.parse("1555.*").within(fleet)
    assert not AddressRange.parse("15550000").within(fleet)
    assert AddressRange.parse("").within(fleet)  # a bind that receives nothing


_SAFE_ATOM = st.sampled_from(["1", "5", "0", ".", r"\d", "[0-4]", "[5-9]"])
_SAFE_Q = st.sampled_from(["", "", "*", "?", "+", "{2}", "{1,3}"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_SAFE_ATOM, _SAFE_Q), min_size=1, max_size=8), st.booleans(),
       st.text("0123456789", max_size=15))
def test_subset_agrees_with_python_re_on_safe_patterns(atoms, anchored, number):
    pattern = "".join(a + q for a, q in atoms) + ("$" if anchored else "")
    if re.fullmatch(r"\+?[0-9]{1,20}", pattern):
        return  # plain numbers are exact matches by design
    ours = AddressRange.parse(pattern).matches(number)
    assert ours == bool(re.match(pattern.replace(".", "[0-9]"), number))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_parses_or_raises_range_error(text):
    try:
        r = AddressRange.parse(text)
    except RangeError:
        return
    r.matches("15550001")


# -- a pathological pattern does not stall other clients ----------------------------------




@pytest.fixture
def threaded_smsc(request):
    """An SMSC on its own event loop in a thread, so plain sockets can talk to it."""
    with smsc_in_thread(getattr(request, "param", None) or SmscConfig(open=True)) as smsc:
        yield smsc


def _bound(smsc, system_id, command=P.BIND_TRANSCEIVER, address_range=""):
    sock = socket.create_connection(("127.0.0.1", smsc.port), timeout=30)
    sock.sendall(P.Bind(command, 1, 0, system_id, "", "", 0x34, 1, 1, address_range).encode())
    resp = _read_pdu(sock)
    assert resp.status == P.ESME_ROK, P.status_name(resp.status)
    return sock


def test_pathological_range_does_not_delay_another_clients_enquire_link(threaded_smsc):
    # For a backtracking engine this is O(n^12) on a 20-digit number that does not match:
    # Python's re takes hours. Both the bind and every route through it run it.
    evil = r"\d*" * 12 + "1$"
    assert len(evil) <= 40
    with _bound(threaded_smsc, "evil", P.BIND_RECEIVER, evil) as e, \
            _bound(threaded_smsc, "sender") as s, _bound(threaded_smsc, "bystander") as b:
        # route a message past the evil range, then ask the bystander's keep-alive
        s.sendall(P.ShortMessage(P.SUBMIT_SM, 2, 0, "", 1, 1, "15550001", 1, 1, "2" * 20,
                                 short_message=b"x").encode())
        s.sendall(P.Bare(P.ENQUIRE_LINK, 3).encode())
        order = []
        r = _read_pdu(s)
        order.append(r.name)
        b.sendall(P.Bare(P.ENQUIRE_LINK, 7).encode())
        order.append(_read_pdu(b).name + " (bystander)")
        order.append(_read_pdu(s).name)
        assert order == ["submit_sm_resp", "enquire_link_resp (bystander)", "enquire_link_resp"]
        assert r.status == P.ESME_ROK and e.fileno() >= 0


# -- back-pressure: a client that never reads -------------------------------------------------

LIMIT = 64 * 1024


@pytest.mark.parametrize("threaded_smsc", [SmscConfig(open=True, max_write_buffer=LIMIT)], indirect=True)
@pytest.mark.parametrize("bind_first", [False, True])
def test_client_that_never_reads_stays_under_the_limit(threaded_smsc, bind_first):
    smsc = threaded_smsc
    hog = socket.create_connection(("127.0.0.1", smsc.port), timeout=30)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # so its kernel buffer fills soon
    if bind_first:
        hog.sendall(P.Bind(P.BIND_TRANSCEIVER, 1, 0, "hog", "").encode())
    chunk = memoryview(P.Bare(P.ENQUIRE_LINK, 5).encode() * 4096)  # 64 KiB of enquire_link
    hog.settimeout(0.5)
    sent = off = 0
    pushed_back = 0
    while sent < 100 * 1024 * 1024:
        try:
            n = hog.send(chunk[off:])
        except socket.timeout:
            # TCP pushes back. Usually because the SMSC stopped reading us (a write pause);
            # on some runs the kernel's loopback buffers take all the SMSC wrote and the
            # connection stalls in TCP itself with nothing buffered in the SMSC: either way
            # the hog is held, which four tries in a row (2 s) show.
            pushed_back += 1
            if smsc.stats.write_pauses or pushed_back >= 4:
                break
            continue
        pushed_back = 0
        sent += n
        off = (off + n) % len(chunk)  # whole PDUs stay whole across partial sends
    # Without back-pressure the SMSC reads all 100 MB and buffers the answers: not so here.
    assert sent < 100 * 1024 * 1024
    # meanwhile another client is served
    with _bound(smsc, "other") as other:
        other.sendall(P.Bare(P.ENQUIRE_LINK, 9).encode())
        assert _read_pdu(other).command_id == P.ENQUIRE_LINK_RESP
    # the SMSC's own count of octets buffered for the hog: never past the limit plus one resp
    assert smsc.stats.max_buffered <= LIMIT + 16
    assert smsc.stats.write_pauses >= 1 or smsc.stats.max_buffered == 0
    assert all(buffered <= LIMIT + 16 for _, _, buffered in smsc.connections())
    hog.close()


@pytest.mark.parametrize("threaded_smsc", [SmscConfig(open=True, bind_timeout=0.2)], indirect=True)
def test_a_connection_that_never_binds_is_closed(threaded_smsc):
    with socket.create_connection(("127.0.0.1", threaded_smsc.port), timeout=30) as sock:
        assert sock.recv(16) == b""  # closed by the SMSC, not by us
    assert threaded_smsc.stats.timeouts == 1


@pytest.mark.parametrize("threaded_smsc", [SmscConfig(open=True, idle_timeout=0.2)], indirect=True)
def test_an_idle_bind_is_unbound(threaded_smsc):
    with _bound(threaded_smsc, "sleepy") as sock:
        assert _read_pdu(sock).command_id == P.UNBIND
        assert sock.recv(16) == b""
    assert threaded_smsc.stats.timeouts == 1


def test_bigger_than_a_bind_before_binding_is_refused(threaded_smsc):
    with socket.create_connection(("127.0.0.1", threaded_smsc.port), timeout=30) as sock:
        sock.sendall(struct.pack(">LLLL", 4096, P.ENQUIRE_LINK, 0, 1) + bytes(4080))
        r = _read_pdu(sock)
        assert (r.command_id, r.status) == (P.GENERIC_NACK, P.ESME_RINVCMDLEN)


def test_matching_work_is_bounded_by_the_number_not_the_pattern(monkeypatch):
    """Linear time, shown without a clock: one NFA step per digit, each over at most the
    pattern's states, for patterns that make backtracking engines explode."""
    from smsc import address_range as AR

    calls = []
    real_step = AR._Nfa.step

    def counting_step(self, states, ch):
        calls.append(len(states))
        return real_step(self, states, ch)

    monkeypatch.setattr(AR._Nfa, "step", counting_step)
    for evil in (r"\d*" * 12 + "1$", r"[0-9]*[0-9]*[0-9]*[0-9]*9$", r"\d?" * 20 + r"\d{19}1$"):
        r = AddressRange.parse(evil)
        calls.clear()
        assert not r.matches("2" * 20)
        assert len(calls) <= 20 and max(calls) <= len(r.nfa.trans)


# -- review: within() is sound, and a bind's pattern cannot buy much work -------------------

_ALT = st.tuples(st.sampled_from(["", "^", r"^\+?", "+"]),
                 st.lists(st.tuples(_SAFE_ATOM | st.sampled_from(["[^1]", "[13]"]), _SAFE_Q), max_size=4),
                 st.booleans())
_SHORT_NUMBERS = [""] + ["".join(p) for n in range(1, 6) for p in itertools.product("0159", repeat=n)]


def _pattern(alts):
    return "|".join(pre + "".join(a + q for a, q in atoms) + ("$" if anchored else "") for pre, atoms, anchored in alts)


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALT, min_size=1, max_size=3), st.lists(_ALT, min_size=1, max_size=3))
def test_a_range_within_the_owners_matches_nothing_the_owner_does_not(owner, bind):
    """Alternation, anchors, classes, +, ?, {n,m}: whatever within() lets through is
    checked against the owner on every short number."""
    owner_r, bind_r = AddressRange.parse(_pattern(owner)), AddressRange.parse(_pattern(bind))
    if bind_r.within(owner_r):
        escaped = [n for n in _SHORT_NUMBERS if bind_r.matches(n) and not owner_r.matches(n)]
        assert not escaped, (_pattern(bind), _pattern(owner), escaped[:3])


def test_numbers_routed_past_a_bind_share_the_work_of_its_pattern(monkeypatch):
    """A bind's range (40 characters at most) is matched for every message routed past it:
    its state sets are computed once and memoised (a lazy DFA), not per number per digit."""
    from smsc import address_range as AR

    closures = []
    real = AR._Nfa.closure
    monkeypatch.setattr(AR._Nfa, "closure", lambda self, states: closures.append(1) or real(self, states))
    evil = "^15550[1-9]" + ".{0,20}" * 4  # 87 states
    r = AddressRange.parse(evil)
    owner = AddressRange.parse(r"^15550[1-9]\d*")
    assert r.within(owner)
    closures.clear()
    for i in range(1000):
        assert r.matches(f"155501{i:04d}1234567")
    assert len(closures) < 400  # state sets, not 1000 numbers x 16 digits
