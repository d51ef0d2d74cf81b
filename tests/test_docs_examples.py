"""Every Python block of README.md and docs/*.md runs as written.

Each ```python block is a complete program: it is run in a fresh interpreter, in an empty
directory, with a time limit, and must exit 0. A block that cannot run here (it needs a
physical modem or an operator's SMSC) is marked ```python no-run; there should be almost
none, and each says why in the text around it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python([^\n]*)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        for n, match in enumerate(BLOCK.finditer(text), 1):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1).strip(), match.group(2)))
    return found


RUNNABLE = [pytest.param(code, id=where) for where, info, code in blocks() if info != "no-run"]


@pytest.mark.parametrize("code", RUNNABLE)
def test_python_block_runs(code: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr  # e.g. logged from a task


def test_blocks_are_found_and_marks_are_known() -> None:
    found = blocks()
    assert len([b for b in found if b[1] != "no-run"]) >= 5
    assert {info for _where, info, _code in found} <= {"", "no-run"}
    assert len([b for b in found if b[1] == "no-run"]) <= 2, "almost none may be left unrun"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```sh\n(.*?)\n```", setup, re.S | re.M)
    assert len(commands) == 2, "two set-up commands: the demo and the tests"
    assert commands[0].endswith("pip install -e . && lwm2m-sms demo")
    test_steps = commands[1].split(" && ")[2:]  # after creating and activating the venv
    assert test_steps == ["pip install -e '.[test]'", "python -m mypy", "python -m pytest -q -p no:cacheprovider"]
    assert re.search(r"^python -m pip install (-q )?-e '\.\[test\]'$", ci, re.M)
    assert re.search(r"^python -m mypy$", ci, re.M)
    assert re.search(r"^python -m pytest -q -p no:cacheprovider$", ci, re.M)


def test_docs_links_resolve() -> None:
    for doc in DOCUMENTS:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).is_file(), f"{doc.name}: {target}"
