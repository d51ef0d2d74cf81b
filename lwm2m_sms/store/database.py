"""What a backend provides: one connection, transactions, and the little SQL that differs.

The tables (:mod:`.tables`) are written once, in the SQL that SQLite and PostgreSQL share
(``?`` placeholders, ``INSERT ... ON CONFLICT``, ``RETURNING``); a backend translates the
placeholders, runs transactions its way, and names its row-lock clause and its migration
steps. Calls are synchronous and short: the server's callers are synchronous today.
"""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["Database", "Result", "Migration"]


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: applied once, in order, in one transaction with its version row."""

    version: int
    description: str
    statements: tuple[str, ...]


class Database(abc.ABC):
    #: the store's address as given, for messages (a file path or a URL without password)
    name: str
    #: backend name in messages and in ``schema_version``: ``sqlite`` or ``postgresql``
    backend: str
    #: appended to the SELECT that picks queued work: row locks where the engine has them
    lock_clause: str = ""
    #: the steps that build this backend's schema, in version order
    migrations: Sequence[Migration] = ()
    #: what ``execute`` raises when a write breaks a UNIQUE constraint
    integrity_errors: tuple[type[Exception], ...] = ()

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run one statement (``?`` placeholders) and return its rows and row count."""

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction: committed on success, rolled back on an exception. On SQLite
        it takes the database's write lock at once (``BEGIN IMMEDIATE``)."""

    def lock_schema(self) -> None:
        """Inside a transaction: keep other processes from migrating at the same time."""

    @abc.abstractmethod
    def close(self) -> None: ...
