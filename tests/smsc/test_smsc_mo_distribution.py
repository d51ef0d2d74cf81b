"""Mobile-originated traffic for a number that several binds of one account serve is spread
over those binds (round robin by default, or "first"), sans-IO with bytes and a fake clock,
then once over real loopback sockets with two ESMEs bound for the same account and range."""

import asyncio
from collections import Counter

import pytest

from lwm2m_sms.bearer import DeliveryState
from smsc import pdu as P
from smsc.config import Account, SmscConfig, config_from_dict
from smsc.server import SimulatedSmsc

from test_smsc_core import rig
from waiting import Inbox, until

SERVER = "15550000"


def accounts(mo_distribution="round_robin"):
    return [
        Account("server", address_range=SERVER, mo_distribution=mo_distribution),
        Account("devices", address_range=r"^15550[1-9]\d*"),
    ]


def submit(conn, seq, dest, data, source="15550101", dlr=0):
    conn.data_received(P.ShortMessage(P.SUBMIT_SM, seq, 0, "", 1, 1, source, 1, 1, dest,
                                      0, 0, 0, "", "", dlr, 0, 4, 0, data).encode())


def ack_all(conn, t):
    """Acknowledge every deliver_sm written to ``t``; the short_messages, in order."""
    got = []
    for pdu in t.pdus():
        if pdu.command_id == P.DELIVER_SM:
            got.append(pdu.short_message)
            conn.data_received(P.MessageIdResp(P.DELIVER_SM_RESP, pdu.sequence).encode())
    return got


def server_rig(mo_distribution="round_robin", **config):
    core, wall, mono, connect, _ = rig(accounts=accounts(mo_distribution), **config)
    dev, tdev = connect("devices", address_range="15550101")
    return core, mono, connect, dev, tdev


def test_round_robin_over_the_binds_of_an_account():
    core, _, connect, dev, tdev = server_rig()
    binds = [connect("server", address_range=SERVER) for _ in range(3)]
    got: list[list[bytes]] = [[], [], []]
    for i in range(12):  # one at a time, each acknowledged at once: no bind is busier
        submit(dev, 2 + i, SERVER, b"m%d" % i)
        for k, (c, t) in enumerate(binds):
            got[k] += ack_all(c, t)
    assert got == [[b"m%d" % i for i in range(k, 12, 3)] for k in range(3)]  # in bind order
    assert core.stats.delivered == 12 and core.queued == 0


def test_first_sends_everything_to_the_oldest_bind_until_its_window_is_full():
    core, _, connect, dev, tdev = server_rig("first", deliver_window=4)
    (a, ta), (b, tb) = connect("server", address_range=SERVER), connect("server", address_range=SERVER)
    for i in range(6):
        submit(dev, 2 + i, SERVER, b"m%d" % i)
    assert ack_all(a, ta) == [b"m0", b"m1", b"m2", b"m3"]
    assert ack_all(b, tb) == [b"m4", b"m5"]  # the first had no room: the next took them
    submit(dev, 8, SERVER, b"m6")
    assert ack_all(a, ta) == [b"m6"] and ack_all(b, tb) == []


def test_round_robin_passes_over_a_full_window():
    core, _, connect, dev, tdev = server_rig(deliver_window=2)
    (a, ta), (b, tb) = connect("server", address_range=SERVER), connect("server", address_range=SERVER)
    at_a, at_b = [], []
    for i in range(6):  # a never acknowledges, b at once
        submit(dev, 2 + i, SERVER, b"m%d" % i)
        at_a += [p.short_message for p in ta.pdus() if p.command_id == P.DELIVER_SM]
        at_b += ack_all(b, tb)
    # a's window (2) is full after m2; then b takes a's turns too
    assert at_a == [b"m0", b"m2"] and at_b == [b"m1", b"m3", b"m4", b"m5"]


def test_a_bind_that_goes_away_is_skipped_and_its_window_goes_to_the_others():
    core, _, connect, dev, tdev = server_rig()
    (a, ta), (b, tb), (c, tc) = (connect("server", address_range=SERVER) for _ in range(3))
    for i in range(3):
        submit(dev, 2 + i, SERVER, b"m%d" % i)
    assert [p.short_message for p in tb.pdus()] == [b"m1"]  # b dies without acknowledging
    b.connection_lost()
    assert ack_all(a, ta) + ack_all(c, tc) == [b"m0", b"m2"]
    core.tick()  # m1 waits for a route again; it is due at once and goes to a live bind
    for i in range(3, 7):
        submit(dev, 2 + i, SERVER, b"m%d" % i)
    got = ack_all(a, ta), ack_all(c, tc)
    assert sorted(got[0] + got[1]) == [b"m1", b"m3", b"m4", b"m5", b"m6"]
    assert abs(len(got[0]) - len(got[1])) <= 1 and tb.pdus() == []
    assert core.stats.delivered == 7 and core.queued == 0


def test_stored_messages_for_an_unbound_number_go_to_any_bind_of_the_account_that_returns():
    core, mono, connect, dev, tdev = server_rig()
    for i in range(4):
        submit(dev, 2 + i, SERVER, b"m%d" % i)
    core.tick()
    assert core.queued == 4
    (a, ta), (b, tb) = connect("server", address_range=SERVER), connect("server", address_range=SERVER)
    core.tick()  # no clock advance: a new bind gets what waited at once
    assert sorted(ack_all(a, ta) + ack_all(b, tb)) == [b"m0", b"m1", b"m2", b"m3"]
    assert core.queued == 0


def test_receipts_are_spread_over_the_submitters_binds_too():
    core, _, connect, dev, tdev = server_rig()
    (a, ta), (b, tb) = connect("server", address_range=SERVER), connect("server", address_range=SERVER)
    for i in range(4):
        submit(a, 2 + i, "15550101", b"r%d" % i, source=SERVER, dlr=1)
    ack_all(dev, tdev)
    receipts = [sum(p.command_id == P.DELIVER_SM and p.esm_class == P.ESM_DELIVERY_RECEIPT for p in t.pdus())
                for t in (ta, tb)]
    assert receipts == [2, 2]


def test_mo_distribution_is_checked_in_the_config():
    cfg = config_from_dict({"accounts": [{"system_id": "s", "mo_distribution": "first"}]})
    assert cfg.accounts[0].mo_distribution == "first"
    assert SmscConfig(accounts=[Account("t")]).accounts[0].mo_distribution == "round_robin"
    with pytest.raises(ValueError, match="account 's': mo_distribution must be one of round_robin, first"):
        config_from_dict({"accounts": [{"system_id": "s", "mo_distribution": "random"}]})


async def test_two_esmes_of_one_account_share_its_mo_traffic_over_sockets(make_link):
    n = 20
    cfg = SmscConfig(accounts=[Account("server", "spw", address_range=SERVER),
                               Account("devices", "dpw", address_range=r"^15550[1-9]\d*")],
                     retry_min=0.05, retry_max=0.2)
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        nodes = [await make_link(smsc, "+" + SERVER, system_id="server", password="spw") for _ in range(2)]
        inboxes = [Inbox(), Inbox()]
        for node, inbox in zip(nodes, inboxes):
            node.set_receiver(inbox)
        dev = await make_link(smsc, "+15550101", system_id="devices", password="dpw")

        async def send(lo, hi):
            subs = [await dev.send("+" + SERVER, b"m%d" % i) for i in range(lo, hi)]
            for s in subs:
                assert (await asyncio.wait_for(s.outcome, 10)).state is DeliveryState.SUBMITTED

        for i in range(n):  # one at a time, each delivered before the next: both binds idle
            await send(i, i + 1)
            await until(lambda: sum(len(x.items) for x in inboxes) == i + 1, what=f"m{i} delivered")
        assert [len(x.items) for x in inboxes] == [n // 2, n // 2]  # evenly split

        # node 1 goes away: everything goes to node 0
        await nodes[1].close()
        await until(lambda: sum(b[0] == "server" for b in smsc.binds) == 1, what="node 1 unbound")
        await send(n, n + 10)
        await inboxes[0].wait(n // 2 + 10)
        assert len(inboxes[1].items) == n // 2

        # node 0 goes too: the SMSC stores; node 1 binds again and gets all of it
        await nodes[0].close()
        await until(lambda: sum(b[0] == "server" for b in smsc.binds) == 0, what="node 0 unbound")
        await send(n + 10, n + 20)
        assert smsc.queued == 10
        back = await make_link(smsc, "+" + SERVER, system_id="server", password="spw")
        inbox = Inbox()
        back.set_receiver(inbox)
        got = await inbox.wait(10)
        assert sorted(m.payload for m in got) == sorted(b"m%d" % i for i in range(n + 10, n + 20))
        counts = Counter(m.payload for i in (*inboxes, inbox) for m in i.items)
        assert len(counts) == n + 20 and set(counts.values()) == {1}
