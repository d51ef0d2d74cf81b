"""``lwm2m-sms bench fleet --nodes 2 --db postgresql://...``: two server nodes, each its own
process with its own SMPP bind for the server's number, on one PostgreSQL database; the
SMSC spreads the devices' SMS round robin over the two binds, so Registers and answers
land on either node, and each node reads its share of the fleet. Every operation
completes (behaviour only: no time is asserted)."""

import re

from lwm2m_sms.cli import main


def test_two_nodes_on_postgresql_register_and_read_the_whole_fleet(capsys, pg_url):
    assert main(["bench", "fleet", "--devices", "50", "--nodes", "2", "--db", pg_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"50 S devices, 2 node\(s\) on PostgreSQL postgresql://postgres@", out)
    assert re.search(r"register by SMS\s+50\s+0\s", out) and re.search(r"read /3/0 by SMS\s+50\s+0\s", out)
    taken = [int(m) for m in re.findall(r"^node\d: (\d+) Registers taken", out, re.M)]
    assert len(taken) == 2 and sum(taken) == 50 and min(taken) > 0  # round robin: both nodes took some
    assert re.findall(r"^node\d: .*; read (\d+)/25;", out, re.M) == ["25", "25"]
    # answers the SMSC gave to the node that did not ask were handed to the one that did
    handed = [(int(a), int(b)) for a, b in re.findall(r"handed over to the other nodes (\d+), from them (\d+)", out)]
    assert len(handed) == 2 and handed[0][0] == handed[1][1] and handed[1][0] == handed[0][1]
    assert re.fullmatch(r"fleet: 50 devices, 2 nodes, [\d.]+ s, [\d,]+ ops/s, server -?[\d.]+ KiB/device",
                        out.strip().splitlines()[-1])
