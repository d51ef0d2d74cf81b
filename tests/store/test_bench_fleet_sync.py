"""``lwm2m-sms bench fleet-sync`` runs on PostgreSQL, ends with its one-line summary and
leaves no rows behind; any other store is one line and a non-zero exit."""

from __future__ import annotations

import re

import pytest

from lwm2m_sms.cli import main
from lwm2m_sms.store import open_store


def test_bench_fleet_sync(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fleet-sync", "--devices", "50", "--db", pg_url]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"fleet-sync: 50 registrations, at once [\d,]+/s, spread [\d,]+/s,"
                        r" copy [\d,]+ B/registration", last), last
    store = open_store(pg_url)
    try:
        assert len(store.registrations) == 0
    finally:
        store.close()


def test_bench_fleet_sync_needs_postgresql(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        main(["bench", "fleet-sync", "--db", str(tmp_path / "x.sqlite")])
    assert "--db must be a PostgreSQL URL" in str(info.value.code)
