"""docs/coap.md's CoAP-over-SMS example prints what the page says it prints."""

import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "coap.md"


def test_coap_page_example_prints_what_it_says(tmp_path):
    text = PAGE.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    # the request SMS and the piggybacked response SMS
    assert first == "2.05 Content hello +15550000001 - SMS carried: 2"
    assert f"It prints `{first}`" in text.replace("\n", " ")
    assert "sms_sent=1 sms_received=1" in result.stdout
