"""SMPP time values (SMPP 3.4 7.1.1): ``YYMMDDhhmmsstnnp``, absolute or relative (sans-IO)."""

from __future__ import annotations

import calendar
import re

__all__ = ["parse_validity"]

_VALIDITY = re.compile(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d)(\d\d)([+\-R])")


def parse_validity(text: str, now: float, default: float) -> float:
    """The expiry (epoch seconds) of an SMPP time (5.2.15): relative ``...R`` or absolute
    with a quarter-hour UTC offset. Empty gives ``now + default``. Raises ValueError."""
    if not text:
        return now + default
    m = _VALIDITY.fullmatch(text)
    if not m:
        raise ValueError(f"validity_period {text!r} is not an SMPP time")
    yy, mo, dd, hh, mi, ss, _t, nn, p = m.groups()
    if p == "R":
        secs = ((((int(yy) * 365 + int(mo) * 30 + int(dd)) * 24 + int(hh)) * 60 + int(mi)) * 60) + int(ss)
        return now + secs
    if not (1 <= int(mo) <= 12 and 1 <= int(dd) <= 31 and int(hh) < 24 and int(mi) < 60
            and int(ss) < 60 and int(nn) <= 48):
        raise ValueError(f"validity_period {text!r} is not a date")
    epoch = calendar.timegm((2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), 0, 0, 0))
    offset = int(nn) * 900
    return epoch - offset if p == "+" else epoch + offset
