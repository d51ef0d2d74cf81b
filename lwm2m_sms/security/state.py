"""Secured-packet counters kept on disk, one small JSON file per peer in a directory, so
that a restart never reuses a counter (the peer would refuse it as a replay) nor accepts an
old one. Written to a temporary file and renamed: a crash leaves the old or the new value,
never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["CounterStore"]


class CounterStore:
    def __init__(self, directory: "str | Path") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, peer: str) -> Path:
        return self.directory / f"{peer.lstrip('+')}.counters.json"

    def load(self, peer: str) -> tuple[int, int | None]:
        try:
            data = json.loads(self._path(peer).read_text())
            return int(data["sent"]), (None if data["received"] is None else int(data["received"]))
        except FileNotFoundError:
            return 0, None

    def save(self, peer: str, sent: int, received: int | None) -> None:
        path = self._path(peer)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"sent": sent, "received": received}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
