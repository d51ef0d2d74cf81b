"""LwM2M paths: ``/object/instance/resource/resource-instance`` as tuples of ids.

An LwM2M path has 0 to 4 levels of decimal ids in 0..65535 (``/`` is the root, used by
Bootstrap Delete and Bootstrap Discover). Sans-IO; raises only DecodeError.
"""

from __future__ import annotations

from ..errors import DecodeError

__all__ = ["LwM2MPath", "parse_path", "format_path"]

LwM2MPath = tuple[int, ...]


def parse_path(text: "str | LwM2MPath | list[int]") -> LwM2MPath:
    """``"/3/0/13"`` -> ``(3, 0, 13)``; ``"/"`` or ``""`` -> ``()``. Tuples pass through."""
    if isinstance(text, (tuple, list)):
        ids = tuple(text)
        if len(ids) > 4 or not all(isinstance(i, int) and 0 <= i <= 0xFFFF for i in ids):
            raise DecodeError(f"LwM2M path {text!r} must be up to 4 ids in 0..65535")
        return ids
    if not isinstance(text, str):
        raise DecodeError(f"LwM2M path must be text, not {type(text).__name__}")
    stripped = text.strip("/")
    if not stripped:
        return ()
    parts = stripped.split("/")
    if len(parts) > 4:
        raise DecodeError(f"LwM2M path {text!r} has more than 4 levels")
    numbers: list[int] = []
    for part in parts:
        if len(part) > 5 or not part.isdigit() or not part.isascii() or (len(part) > 1 and part[0] == "0"):
            raise DecodeError(f"LwM2M path {text!r}: {part!r} is not an id")
        value = int(part)
        if value > 0xFFFF:
            raise DecodeError(f"LwM2M path {text!r}: id {value} out of range 0..65535")
        numbers.append(value)
    return tuple(numbers)


def format_path(path: LwM2MPath) -> str:
    return "/" + "/".join(str(i) for i in path)
