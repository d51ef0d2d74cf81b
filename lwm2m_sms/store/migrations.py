"""Schema versions: ``schema_version`` holds one row per applied step; at open, the steps
this code knows and the database lacks are applied in order, each in one transaction with
its row, under the backend's schema lock (two nodes starting at once do not race).

A database whose version is newer than this code's steps is refused: an older node must
not write into a schema it does not know.
"""

from __future__ import annotations

import logging
import time

from .database import Database
from .records import StoreError

__all__ = ["migrate", "schema_version"]

log = logging.getLogger(__name__)

_CREATE = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


def schema_version(db: Database) -> int:
    rows = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").rows
    return int(rows[0][0])


def migrate(db: Database) -> int:
    """Bring the schema up to date; return its version."""
    latest = max((m.version for m in db.migrations), default=0)
    with db.transaction():
        db.lock_schema()
        db.execute(_CREATE)
        current = schema_version(db)
    if current > latest:
        raise StoreError(
            db.name, f"schema version {current} is newer than this lwm2m-sms knows"
            f" ({latest}); run a newer lwm2m-sms"
        )
    for step in sorted(db.migrations, key=lambda m: m.version):
        if step.version <= current:
            continue
        with db.transaction():
            db.lock_schema()
            if schema_version(db) >= step.version:  # another process got there first
                continue
            for statement in step.statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (step.version, step.description, time.time()),
            )
        log.info("store %s: schema migrated to version %d (%s)", db.name, step.version,
                 step.description)
        current = step.version
    return current
