"""``lwm2m-sms bench store`` runs on each store and ends with its one-line summary."""

from __future__ import annotations

import re

import pytest

from lwm2m_sms.cli import main


def test_bench_store(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "store", "--rows", "20", "--db", store_url]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"store: (sqlite|postgresql), register [\d,]+/s, queue [\d,]+/s, take\+mark [\d,]+/s,"
        r" outbox [\d,]+/s, exchange [\d,]+/s, packet counter [\d,]+/s and [\d,]+/s,"
        r" oscore [\d,]+/s and [\d,]+/s", last), last
