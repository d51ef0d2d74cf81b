"""``lwm2m-sms server --node``: the name of a node on a shared PostgreSQL; errors are one line."""

from __future__ import annotations

import pytest

from lwm2m_sms.cli import main
from lwm2m_sms.store.bus import LOCK_SPACE, _signed, lock_key


def test_a_node_name_must_be_printable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--udp", "127.0.0.1:0", "--node", "a\nb"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "lwm2m-sms server: --node 'a\\nb': a name of 1 to 64 printable characters"


def test_a_second_live_node_of_the_same_name_is_refused(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as twin:  # holds the name as a running node does
        twin.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, _signed(lock_key("gw-a"))))
        assert main(["server", "--udp", "127.0.0.1:0", "--db", pg_url, "--node", "gw-a"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("lwm2m-sms: error: node 'gw-a' on postgresql://"), err
    assert err.endswith("node 'gw-a' is already running on this database"), err
