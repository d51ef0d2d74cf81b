"""``lwm2m-sms bench api`` prints its table and the summary line (no figure is asserted)."""

import re
import subprocess
import sys


def test_bench_api_prints_the_summary_line():
    p = subprocess.run([sys.executable, "-m", "lwm2m_sms.cli", "bench", "api", "--devices", "20", "--rounds", "1",
                        "--concurrency", "8"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert re.fullmatch(r"api: [\d,]+ reads/s over HTTP, [\d,]+ reads/s direct, ratio \d+\.\d\d", lines[-1])
    assert any(l.startswith("HTTP API (GET .../data/3/0/0)") and l.split()[4] == "20" for l in lines)
