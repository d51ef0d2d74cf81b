"""``lwm2m-sms bench fleet`` on a small fleet: SMSC, server node(s) and simulator in their
own processes; every device registers and is read by SMS (one SMS each way per
operation); each process's memory is reported apart, and the last line has the issue's
form."""

import re

from lwm2m_sms.cli import main

LAST_LINE = r"fleet: {n} devices, {k} nodes, [\d.]+ s, [\d,]+ ops/s, server -?[\d.]+ KiB/device"


def test_bench_fleet_small_lean(capsys):
    assert main(["bench", "fleet", "--devices", "50"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"processes: SMSC \(pid \d+\), 1 server node\(s\) each with its own SMPP bind", out)
    assert "simulator (lean: 50 devices on one SMPP bind)" in out and "SQLite file (temporary)" in out
    assert re.search(r"register by SMS\s+50\s+0\s+\S+\s+\S+\s+50\s+50", out)
    assert re.search(r"read /3/0 by SMS\s+50\s+0\s+\S+\s+\S+\s+50\s+50", out)
    assert re.search(r"^node1: 50 Registers taken, holds 50 registrations; read 50/50; answers handed over to the "
                     r"other nodes 0, from them 0; RSS peak \d+ MB", out, re.M)
    for phase in ("register", "read"):
        assert re.search(rf"^  CPU, {phase} phase: [\d.]+ s, [\d.]+ ms per {phase}; GC [\d.]+ s "
                         rf"\(\d+% of CPU\), \d+ collections, \d+ full, longest pause [\d.]+ s "
                         rf"\(GC set-up: server\)", out, re.M)
    assert re.search(r"^simulator RSS: peak \d+ MB, -?[\d.]+ KiB per device \(lean devices.*reads answered 50, "
                     r"duplicates 0", out, re.M)
    assert re.fullmatch(LAST_LINE.format(n=50, k=1), out.strip().splitlines()[-1])


def test_bench_fleet_full_devices_profile_and_gc_options(capsys, tmp_path):
    profile = tmp_path / "server.prof"
    assert main(["bench", "fleet", "--devices", "5", "--full", "--gc", "default", "--profile", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "simulator (full: 5 devices on one SMPP bind)" in out and "(GC set-up: default)" in out
    assert re.search(r"^node\s+op\s+total\s+store\s+SMPP\+SMS\s+CoAP\s+LwM2M\+router\s+loop\+sockets\s+other\s+GC$",
                     out, re.M)
    assert re.search(r"^node1\s+Register(\s+[\d.]+){8}$", out, re.M)
    assert re.search(r"^node1\s+Read(\s+[\d.]+){8}$", out, re.M)
    import pstats

    assert pstats.Stats(f"{profile}.node1").get_stats_profile().func_profiles
    assert re.fullmatch(LAST_LINE.format(n=5, k=1), out.strip().splitlines()[-1])


def test_bench_fleet_refuses_nonsense(capsys):
    assert main(["bench", "fleet", "--devices", "0"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_bench_fleet_several_nodes_need_postgresql(capsys):
    assert main(["bench", "fleet", "--devices", "10", "--nodes", "2"]) == 2
    err = capsys.readouterr().err
    assert "--nodes 2 needs --db postgresql://" in err and len(err.strip().splitlines()) == 1


def test_bench_fleet_that_cannot_start_its_smsc_says_so_and_leaves_nothing(capsys, tmp_path, monkeypatch):
    import tempfile

    from lwm2m_sms.cli import bench_fleet

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(bench_fleet, "SMSC_CONFIG", "[smsc\n")  # the SMSC refuses its configuration
    assert main(["bench", "fleet", "--devices", "5"]) == 1
    err = capsys.readouterr().err  # the SMSC's own reason goes to the terminal before it
    assert err.startswith("lwm2m-sms: error: bench fleet: the simulated SMSC did not start") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # its working directory is gone


def test_bench_fleet_whose_simulator_fails_lets_the_nodes_end_on_their_own(capsys, monkeypatch):
    import multiprocessing.process

    from lwm2m_sms.cli import bench_fleet

    # The SMSC is configured with another password than the simulator (a fresh interpreter)
    # binds with: the simulator fails while node1 waits for its work.
    monkeypatch.setattr(bench_fleet, "FLEET_PASSWORD", "other")
    terminated = []
    real_terminate = multiprocessing.process.BaseProcess.terminate
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "terminate",
                        lambda self: terminated.append(self.name) or real_terminate(self))
    assert main(["bench", "fleet", "--devices", "5"]) == 1
    assert capsys.readouterr().err.startswith("lwm2m-sms: error: bench fleet: a bench process failed: ")
    assert terminated == []  # node1 saw its pipe close and stopped itself (its stack closed)
