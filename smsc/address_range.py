"""SMPP address_range patterns, matched in linear time (sans-IO).

SMPP 3.4 (5.2.7) calls address_range "a regular expression" and leaves the dialect open.
An ESME sends it in its bind, so it is untrusted input: running it through a backtracking
engine (Python :mod:`re`) lets one crafted pattern stall the event loop for seconds. This
module implements a documented subset that covers what operators use, compiled to a small
NFA and run by state-set simulation, so a match costs O(len(number) x len(pattern)) at
worst, whatever the pattern.

The subset (anything else is refused with :class:`RangeError`):

* digits ``0``-``9``; ``.`` and ``\\d`` (any digit); classes ``[0-9]``, ``[13-5]``;
* quantifiers ``*``, ``+``, ``?`` and ``{n}`` / ``{n,m}`` (n, m at most 20) after an atom;
* ``|`` between whole alternatives (no groups);
* an optional ``^`` at the start and ``$`` at the end of an alternative; without ``$`` the
  pattern matches a prefix of the number (as ``re.match`` does);
* a ``+``, ``\\+`` or ``\\+?`` right after the start: numbers are matched as digits without
  their ``+`` (TON/NPI carry the international-ness), so it stands for nothing.

A plain number (``+15550001`` or ``15550001``) is an exact match, not a prefix.

:meth:`AddressRange.within` decides whether every number one range matches is matched by
another (an account's range owns its binds' ranges). It explores the product of the bound
range's NFA and the owner's determinised NFA; the exploration is capped, and a range too
complex to decide is treated as not within (the bind is refused, never waved through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["RangeError", "AddressRange"]

_DIGITS = frozenset("0123456789")
_PLAIN = re.compile(r"\+?[0-9]{1,20}")  # a fixed, linear pattern on our side, not the peer's
_MAX_REPEAT = 20
# NFA states one pattern may compile to: 200 literal digits fit; what does not is a pile of
# {n,m} expansions, whose state sets make every match and within() cost more (a bind's
# pattern is the peer's, matched for every message routed past that bind).
_MAX_STATES = 256
_MAX_PAIRS = 50_000  # product states explored by within()
_STEP_CACHE = 4096  # memoised (state set, digit) -> state set per pattern


class RangeError(ValueError):
    """An address_range outside the supported subset."""


@dataclass(slots=True)
class _Nfa:
    # state -> [(digits accepted, next state)]; state -> epsilon successors
    trans: list[list[tuple[frozenset[str], int]]] = field(default_factory=list)
    eps: list[list[int]] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    accept: set[int] = field(default_factory=set)
    # the subset construction done lazily: numbers routed past a bind share a few state sets,
    # so a match is a few dict lookups; bounded, since a pattern may have many sets
    steps: dict[tuple[frozenset[int], str], frozenset[int]] = field(default_factory=dict)
    first: frozenset[int] | None = None  # closure of starts, once compiled

    def new(self) -> int:
        if len(self.trans) >= _MAX_STATES:
            raise RangeError("address_range too complex")
        self.trans.append([])
        self.eps.append([])
        return len(self.trans) - 1

    def closure(self, states: set[int] | list[int]) -> frozenset[int]:
        out = set(states)
        stack = list(states)
        while stack:
            s = stack.pop()
            for t in self.eps[s]:
                if t not in out:
                    out.add(t)
                    stack.append(t)
        return frozenset(out)

    def step(self, states: frozenset[int], ch: str) -> frozenset[int]:
        key = (states, ch)
        found = self.steps.get(key)
        if found is None:
            nxt = [t for s in states for chars, t in self.trans[s] if ch in chars]
            found = self.closure(nxt) if nxt else frozenset()
            if len(self.steps) >= _STEP_CACHE:
                self.steps.clear()
            self.steps[key] = found
        return found


def _atoms(alt: str) -> list[tuple[frozenset[str], str]]:
    """(digit set, quantifier) pairs of one alternative, ``^``/``$``/``+`` already removed;
    quantifier is ``1``, ``?`` or ``*``."""
    out: list[tuple[frozenset[str], str]] = []
    i, n = 0, len(alt)
    while i < n:
        c = alt[i]
        if c.isascii() and c.isdigit():
            chars = frozenset(c)
            i += 1
        elif c == ".":
            chars, i = _DIGITS, i + 1
        elif c == "\\" and alt[i + 1 : i + 2] == "d":
            chars, i = _DIGITS, i + 2
        elif c == "[":
            end = alt.find("]", i + 1)
            if end < 0:
                raise RangeError("unclosed [")
            chars = _class(alt[i + 1 : end])
            i = end + 1
        else:
            raise RangeError(f"{c!r} at {i} is outside the supported subset")
        q = alt[i : i + 1]
        if q in ("*", "?"):
            out.append((chars, q))
            i += 1
        elif q == "+":
            out += [(chars, "1"), (chars, "*")]
            i += 1
        elif q == "{":
            end = alt.find("}", i)
            m = re.fullmatch(r"(\d{1,2})(?:,(\d{1,2}))?", alt[i + 1 : end]) if end > 0 else None
            if m is None:
                raise RangeError("bad {n} or {n,m}")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi > _MAX_REPEAT or lo > hi:
                raise RangeError(f"repeat {{{lo},{hi}}} outside 0..{_MAX_REPEAT}")
            out += [(chars, "1")] * lo + [(chars, "?")] * (hi - lo)
            i = end + 1
        else:
            out.append((chars, "1"))
    return out


def _class(body: str) -> frozenset[str]:
    negate = body.startswith("^")
    if negate:
        body = body[1:]
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if body[i : i + 2] == "\\d":
            chars |= _DIGITS
            i += 2
            continue
        c = body[i]
        if not (c.isascii() and c.isdigit()):
            raise RangeError(f"{c!r} in a class: only digits and ranges")
        if body[i + 1 : i + 2] == "-" and i + 2 < len(body):
            hi = body[i + 2]
            if not (hi.isascii() and hi.isdigit()) or hi < c:
                raise RangeError(f"bad range {c}-{hi}")
            chars |= {chr(x) for x in range(ord(c), ord(hi) + 1)}
            i += 3
        else:
            chars.add(c)
            i += 1
    return frozenset(_DIGITS - chars if negate else chars)


@dataclass(frozen=True, slots=True, eq=False)
class AddressRange:
    """A parsed address_range. ``AddressRange.parse("")`` matches nothing."""

    text: str
    exact: str | None
    nfa: _Nfa

    @classmethod
    def parse(cls, text: str) -> AddressRange:
        nfa = _Nfa()
        if not text:
            return cls(text, None, nfa)
        if len(text) > 200:
            raise RangeError("address_range longer than 200 characters")
        if _PLAIN.fullmatch(text):
            exact = text.lstrip("+")
            # exact: one chain of literal digits, anchored at the end
            nfa.starts.append(_chain(nfa, [(frozenset(d), "1") for d in exact], anchored=True))
            return cls(text, exact, nfa)
        for alt in text.split("|"):
            alt = alt.removeprefix("^")
            for plus in ("\\+?", "\\+", "+"):
                if alt.startswith(plus):
                    alt = alt[len(plus) :]
                    break
            anchored = alt.endswith("$") and not alt.endswith("\\$")
            if anchored:
                alt = alt[:-1]
            nfa.starts.append(_chain(nfa, _atoms(alt), anchored=anchored))
        return cls(text, None, nfa)

    @property
    def empty(self) -> bool:
        return not self.nfa.starts

    def matches(self, number: str) -> bool:
        """Whether the number (digits, a leading ``+`` ignored) lies in this range."""
        digits = number[1:] if number.startswith("+") else number
        if self.exact is not None:
            return digits == self.exact
        nfa = self.nfa
        if not nfa.starts:
            return False
        states = nfa.first
        if states is None:
            states = nfa.first = nfa.closure(nfa.starts)
        for ch in digits:
            if not states:
                return False
            states = nfa.step(states, ch)
        return not nfa.accept.isdisjoint(states)

    def within(self, owner: AddressRange) -> bool:
        """Whether every number this range matches is also matched by ``owner``."""
        if self.empty:
            return True
        if owner.empty:
            return False
        a, b = owner.nfa, self.nfa
        start_a = a.closure(a.starts)
        closures: dict[int, frozenset[int]] = {}
        seen: set[tuple[int, frozenset[int]]] = set()
        todo = [(s, start_a) for s in b.closure(b.starts)]
        while todo:
            sb, sa = todo.pop()
            if (sb, sa) in seen:
                continue
            seen.add((sb, sa))
            if len(seen) > _MAX_PAIRS:
                return False
            if sb in b.accept and a.accept.isdisjoint(sa):
                return False
            for chars, tb in b.trans[sb]:
                nbs = closures.get(tb)
                if nbs is None:
                    nbs = closures[tb] = b.closure([tb])
                for ch in chars:
                    na = a.step(sa, ch)
                    todo.extend((nb, na) for nb in nbs if (nb, na) not in seen)
        return True


def _chain(nfa: _Nfa, atoms: list[tuple[frozenset[str], str]], *, anchored: bool) -> int:
    """States for one alternative; returns its start state."""
    start = cur = nfa.new()
    for chars, q in atoms:
        nxt = nfa.new()
        if q == "*":
            nfa.trans[cur].append((chars, cur))
            nfa.eps[cur].append(nxt)
        else:
            nfa.trans[cur].append((chars, nxt))
            if q == "?":
                nfa.eps[cur].append(nxt)
        cur = nxt
    if not anchored:  # a prefix: any digits may follow
        nfa.trans[cur].append((_DIGITS, cur))
    nfa.accept.add(cur)
    return start
