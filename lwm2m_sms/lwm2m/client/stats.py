"""A simulated device's counters, read and written as a mapping (``stats["registers"]``).

A fleet of 100,000 devices lives in one process: a dict of nine counters costs about
half a KiB per device, these slots a fifth of that. The keys are fixed: counting under a
name that is not one is a KeyError, not a silent new counter.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

__all__ = ["DeviceStats"]

_NAMES = (
    "registers", "updates", "requests", "dropped_asleep", "dropped_untrusted", "notifications",
    "bootstrap_requests", "bootstrap_unanswered", "bootstrap_abandoned",
)


class DeviceStats(MutableMapping[str, int]):
    __slots__ = _NAMES

    def __init__(self) -> None:
        for name in _NAMES:
            setattr(self, name, 0)

    def __getitem__(self, name: str) -> int:
        if name not in _NAMES:
            raise KeyError(name)
        value: int = getattr(self, name)
        return value

    def __setitem__(self, name: str, value: int) -> None:
        if name not in _NAMES:
            raise KeyError(name)
        setattr(self, name, value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("device counters are not deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)

    def __repr__(self) -> str:
        return f"DeviceStats({dict(self)!r})"
