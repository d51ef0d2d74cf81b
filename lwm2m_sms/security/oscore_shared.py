"""An OSCORE security context whose sequence numbers and replay window live in the store
that several gateway nodes share (:mod:`lwm2m_sms.store.oscore`); its keys are read, as
aiocoap's ``FilesystemSecurityContext`` reads them, from the node's own context directory
(``secret.json``, the same on every node).

What changes from aiocoap's context, and why:

* ``new_sequence_number`` (the method aiocoap's protection asks, documented as "never
  returning the same value twice") takes its numbers from blocks reserved in the store with
  one atomic ``UPDATE ... RETURNING``: no two nodes ever get the same number. The block is
  1 number by default: a peer's replay window (32 numbers in aiocoap) moves with the
  highest number it has seen, so a node holding an older block while another node sends
  past it would have its requests refused as too old; one reservation per request keeps
  the numbers the nodes send rising in the order they are sent. (One round trip to the
  store per protected request, beside an SMS.)
* The replay window is :class:`SharedReplayWindow`: the quick check before decryption uses
  this node's last view (it can only be behind the store, so it never refuses what the
  store would accept); the decision after decryption is the store's, in one transaction
  (:meth:`~lwm2m_sms.store.oscore.OscoreStateTable.accept`). A refused number raises
  aiocoap's ``ReplayError`` (the site wrapper answers 4.01 "Replay detected").
* ``sequence.json`` is read once, to start the store's row if it has none (a context used
  by one node before keeps its numbers), and written only when the context is released:
  the last number this node reserved (never below what the file said), the replay window
  "unknown". A context that left the
  store must be provisioned anew (aiocoap's rule: contexts are never copied).

The directory's lock still keeps two processes on one node from loading one copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, Optional

from aiocoap.oscore import MAX_SEQNO, ContextUnavailable, FilesystemSecurityContext, ReplayError

if TYPE_CHECKING:
    from ..store.oscore import OscoreStateTable

__all__ = ["SharedSecurityContext", "SharedReplayWindow", "context_name"]


def context_name(peer: str, ctx: Any) -> str:
    """The store's name for a context: the peer's number and a digest of the derived keys
    and IDs (new keys: a new row, whose numbers start afresh)."""
    h = hashlib.sha256()
    for part in (ctx.sender_id, ctx.recipient_id, ctx.id_context or b"", ctx.sender_key, ctx.recipient_key):
        h.update(len(part).to_bytes(2, "big") + part)
    return f"{peer}/{h.hexdigest()[:32]}"


class SharedReplayWindow:
    """aiocoap's ``ReplayWindow`` interface over the store's ``oscore_seen``."""

    def __init__(self, table: "OscoreStateTable", context: str, size: int, high: Optional[int]) -> None:
        self.table = table
        self.context = context
        self.size = size
        self._high = high  # this node's last view; None: unknown (Echo recovery first)
        self.refused = 0
        self.accepted = 0

    def is_initialized(self) -> bool:
        return self._high is not None

    def is_valid(self, number: int) -> bool:
        return self._high is None or number > self._high - self.size

    def strike_out(self, number: int) -> None:
        high = self.table.accept(self.context, number, window=self.size)
        if high is None:
            self.refused += 1
            raise ReplayError("Sequence number was reused (accepted before, on this node or another)")
        self.accepted += 1
        self._high = high

    def initialize_from_freshlyseen(self, seen: int) -> None:
        # After Echo recovery proved ``seen`` fresh: the store decides as for any number
        # (another node may have recovered the window meanwhile).
        self.strike_out(seen)

    def initialize_empty(self) -> None:  # never: the store's row says where the window is
        raise NotImplementedError

    def persist(self) -> dict[str, int]:
        raise NotImplementedError  # nothing to persist here: the store holds it


class SharedSecurityContext(FilesystemSecurityContext):  # type: ignore[misc]
    recipient_replay_window: Any  # aiocoap's ReplayWindow until __init__ replaces it
    sender_sequence_number: int

    def __init__(self, basedir: str, table: "OscoreStateTable", peer: str, *, block: int = 1) -> None:
        super().__init__(basedir)
        self.table = table
        self.block = block
        self.name = context_name(peer, self)
        files = self.recipient_replay_window
        seen: list[int] = []
        high: Optional[int] = None
        if files.is_initialized():
            index, bits = files.persist()["index"], files.persist()["bitfield"]
            high = index + bits.bit_length() - 1  # index - 1 when nothing was seen
            # aiocoap refuses below ``index``; the store's window reaches ``size`` below
            # ``high``: the numbers in between count as seen.
            seen = [n for n in range(max(0, high - files._size + 1), high + 1)
                    if n < index or (bits >> (n - index)) & 1]
        table.open(self.name, next_to_send=self.sender_sequence_number, high=high, seen=seen)
        row = table.state(self.name)
        assert row is not None
        self.recipient_replay_window = SharedReplayWindow(table, self.name, files._size, row[1])
        self._files_next = self.sender_sequence_number  # never written lower at release
        self.sender_sequence_number = self._reserved_end = 0  # reserve before the first use

    def new_sequence_number(self) -> int:
        if self.sender_sequence_number >= self._reserved_end:
            start = self.table.reserve(self.name, self.block, limit=MAX_SEQNO)
            if start is None:
                raise ContextUnavailable("Sequence number too large, context is exhausted.")
            self.sender_sequence_number, self._reserved_end = start, start + self.block
        number = self.sender_sequence_number
        self.sender_sequence_number += 1
        return number

    def post_seqnoincrease(self) -> None:
        """Nothing: each number was reserved in the store before it was used."""

    def _replay_window_changed(self) -> None:
        """Nothing: the store has each change."""

    def _store(self) -> None:
        # At release: what a node alone would need never to reuse this node's numbers.
        data = {"next-to-send": max(self._files_next, self._reserved_end, self.sender_sequence_number),
                "received": "unknown"}
        fd, tmp = tempfile.mkstemp(dir=self.basedir, prefix=".sequence-", suffix=".json")
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(data).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.basedir, "sequence.json"))
