"""Fixtures: every store test runs on SQLite (a file on disk) and on PostgreSQL.

PostgreSQL is a throw-away server started once per test session from the installed
binaries (Debian's ``postgresql`` package: /usr/lib/postgresql/N/bin), with a temporary
data directory, its socket in that directory and a port of its own, by pytest-postgresql's
executor. initdb and postgres refuse to run as root (CI runs as root): then every pg_ctl
call goes through ``runuser -u postgres`` (the account the Debian package creates) and the
directory belongs to that user. Each test gets a database of its own.

Where the binaries are missing the PostgreSQL tests are skipped and say why; under CI
(``CI`` set) that is a failure instead: CI installs the package (.ci/run).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import stat
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

PG_USER = "postgres"


class FakeClock:
    """The store's clock in tests: time moves only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _pg_ctl() -> str | None:
    explicit = os.environ.get("LWM2M_SMS_PG_CTL")
    if explicit:
        return explicit
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return found[-1] if found else shutil.which("pg_ctl")


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, int]]:
    """A running throw-away PostgreSQL: (host, port), trust authentication for PG_USER."""
    pg_ctl = _pg_ctl()
    if pg_ctl is None:
        _missing("no pg_ctl (apt-get install postgresql)")
    assert pg_ctl is not None
    try:
        from port_for import get_port
        from pytest_postgresql.executors import PostgreSQLExecutor
    except ImportError as exc:
        _missing(f"pytest-postgresql is not installed ({exc})")
    base = Path(tempfile.mkdtemp(prefix="lwm2m-sms-pg-"))
    executable = pg_ctl
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        try:
            account = pwd.getpwnam(PG_USER)
        except KeyError:
            account = None
        if runuser is None or account is None:
            shutil.rmtree(base)
            _missing(f"running as root needs runuser and a {PG_USER!r} account")
        assert account is not None
        os.chown(base, account.pw_uid, account.pw_gid)
        # pg_ctl, initdb and postgres as the unprivileged account, whatever the executor runs.
        wrapper = base / "pg_ctl-as-postgres"
        wrapper.write_text(f'#!/bin/sh\nexec {runuser} -u {PG_USER} -- {pg_ctl} "$@"\n')
        wrapper.chmod(stat.S_IRWXU)
        executable = str(wrapper)
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=executable, host="127.0.0.1", port=port, datadir=str(base / "data"),
        unixsocketdir=str(base), logfile=str(base / "postgresql.log"), startparams="-w",
        dbname="postgres", user=PG_USER, postgres_options="-c fsync=off",
    )
    try:
        executor.start()
    except Exception as exc:
        log = base / "postgresql.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start ({exc}):\n{detail}", pytrace=False)
    try:
        _wait_ready(executor)
        yield "127.0.0.1", port
    finally:
        executor.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wait_ready(executor: Any, timeout: float = 60.0) -> None:
    """The executor returns once the port accepts connections; the server may still be
    starting up ("the database system is starting up") until it accepts a login. The
    launcher it ran is ``pg_ctl start -w``, which exits only once the server reports itself
    ready in postmaster.pid (or has failed): its exit is the event to wait for."""
    code = executor.process.wait(timeout)
    if code != 0:
        raise RuntimeError(f"pg_ctl start -w exited with status {code}")


@pytest.fixture
def pg_url(pg_server: tuple[str, int]) -> Iterator[str]:
    """A fresh, empty database on the throw-away server, dropped after the test."""
    import psycopg

    host, port = pg_server
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://{PG_USER}@{host}:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql://{PG_USER}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both backends: an SQLite file on disk, a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator["object"]:
    from lwm2m_sms.store import open_store

    s = open_store(store_url, clock=clock)
    try:
        yield s
    finally:
        s.close()
