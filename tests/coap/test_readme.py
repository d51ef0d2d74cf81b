"""The README's CoAP-over-SMS example runs as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs(tmp_path):
    text = README.read_text()
    section = text.split("## CoAP over SMS (aiocoap transport)", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    # the request SMS and the piggybacked response SMS
    assert first == "2.05 Content hello +15550000001 - SMS carried: 2"
    assert "sms_sent=1 sms_received=1" in result.stdout
