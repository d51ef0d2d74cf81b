"""``lwm2m-sms bench fleet`` on a small fleet: every device registers and is read by SMS
(one SMS each way per operation), and the summary line has the promised shape."""

import re

from lwm2m_sms.cli import main


def test_bench_fleet_small(capsys):
    assert main(["bench", "fleet", "--devices", "50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"register by SMS\s+50\s+\S+\s+\S+\s+50\s+50", out)
    assert re.search(r"read /3/0 by SMS\s+50\s+\S+\s+\S+\s+50\s+50", out)
    assert re.fullmatch(r"fleet: 50 devices, [\d.]+ s, [\d,]+ ops/s, peak RSS \d+ MB", out.strip().splitlines()[-1])
