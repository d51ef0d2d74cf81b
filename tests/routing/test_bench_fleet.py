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
    assert re.search(r"KiB per device after the last Register", out)
    for phase in ("register", "read"):
        assert re.search(rf"^server CPU, {phase} phase: [\d.]+ s, [\d.]+ ms per device; GC [\d.]+ s "
                         rf"\(\d+% of CPU\), \d+ collections, \d+ full, longest pause [\d.]+ s "
                         rf"\(GC set-up: server\)", out, re.M)
    assert re.fullmatch(
        r"fleet: 50 devices, [\d.]+ s, [\d,]+ ops/s, server RSS \d+ MB \(-?[\d.]+ KiB/device\), "
        r"simulator RSS \d+ MB",
        out.strip().splitlines()[-1],
    )


def test_bench_fleet_profile_and_gc_options(capsys, tmp_path):
    profile = tmp_path / "server.prof"
    assert main(["bench", "fleet", "--devices", "5", "--gc", "default", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "(GC set-up: default)" in out and f"server profile (cProfile, start-up to last read): {profile}" in out
    import pstats

    assert pstats.Stats(str(profile)).total_calls > 0
