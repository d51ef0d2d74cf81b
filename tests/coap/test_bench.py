"""``lwm2m-sms bench coap`` runs and ends with its summary line (figures are not asserted)."""

import re

from lwm2m_sms.cli import main


def test_bench_coap_prints_table_and_ratio(capsys):
    assert main(["bench", "coap", "--requests", "20", "--warmup", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["transport", "requests", "req/s", "median", "ms", "p99", "ms"]
    assert lines[1].startswith("udp loopback") and lines[2].startswith("sms loopback")
    assert "SMS carried: 44 for 22 GETs" in lines[3]  # a piggybacked GET is 2 SMS
    assert re.fullmatch(r"coap: sms/udp cost ratio \d+\.\d\d", lines[-1])
