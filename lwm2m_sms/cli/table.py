"""Plain-text tables for the command line: a header, a rule, aligned columns."""

from __future__ import annotations

from typing import Iterable, Sequence


def format_table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], right: set[int] | None = None
) -> str:
    """Columns ``right`` (default: all but the first) are right-aligned, for numbers."""
    rows = [list(r) for r in rows]
    if right is None:
        right = set(range(1, len(headers)))
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
