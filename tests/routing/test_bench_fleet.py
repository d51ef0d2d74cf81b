"""``lwm2m-sms bench fleet`` on a small fleet: the server, the simulated devices and the SMSC
run in three processes; every device registers and is read by SMS (one SMS each way per
operation); the server's and the simulator's memory are reported apart."""

import re

from lwm2m_sms.cli import main


def test_bench_fleet_small(capsys):
    assert main(["bench", "fleet", "--devices", "50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"processes: SMSC \(pid \d+\), server, simulator", out)
    assert re.search(r"register by SMS\s+50\s+\S+\s+\S+\s+50\s+50", out)
    assert re.search(r"read /3/0 by SMS\s+50\s+\S+\s+\S+\s+50\s+50", out)
    assert re.search(r"^server RSS: peak \d+ MB, -?[\d.]+ KiB per device", out, re.M)
    assert re.search(r"^simulator RSS: peak \d+ MB, -?[\d.]+ KiB per device", out, re.M)
    assert re.fullmatch(
        r"fleet: 50 devices, [\d.]+ s, [\d,]+ ops/s, server RSS \d+ MB \(-?[\d.]+ KiB/device\), "
        r"simulator RSS \d+ MB",
        out.strip().splitlines()[-1],
    )
