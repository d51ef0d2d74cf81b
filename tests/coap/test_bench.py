"""``lwm2m-sms bench coap`` says what it measures, runs both set-ups sequentially and with 16
requests in flight, and ends with both ratios (figures are not asserted)."""

import re

from lwm2m_sms.cli import main


def test_bench_coap_prints_both_runs_and_both_ratios(capsys):
    assert main(["bench", "coap", "--requests", "32", "--warmup", "16"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    # it names the processes, the bearer and the sockets
    assert "SMPP link (TCP loopback" in out and "simulated SMSC in this process" in out
    assert "kernel loopback sockets" in out
    rows = {tuple(line.split()[:2]) for line in lines if re.match(r"(udp|coap\+sms)\s+\d+\s", line)}
    assert rows == {("udp", "1"), ("coap+sms", "1"), ("udp", "16"), ("coap+sms", "16")}
    # every GET is one submit_sm and one deliver_sm each way through the simulated SMSC:
    # 2 x (32 + 16 warm-up) sequential, 2 x (32 + 16 x 1 warm-up) with 16 clients
    assert "SMSC delivered 192 SMS (deliver_sm)" in out
    assert re.fullmatch(
        r"coap: time per request coap\+sms \(SMPP, simulated SMSC\) / udp: "
        r"sequential \d+\.\d\d, 16 in flight \d+\.\d\d",
        lines[-1],
    )
