"""Package-level names imported on first use (PEP 562).

The packages export their public names at package level, but ``import lwm2m_sms.sms.tpdu``
(a sans-IO codec) must not import aiocoap, the SMPP link and the server core with it: each
package maps its exported names to the module that defines them and imports that module
when a name is first read. Type checkers see the same names through the package's
``if TYPE_CHECKING:`` imports; tests/test_public_api.py keeps both lists equal.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps a public name to the module
    (relative to ``package``, e.g. ``".gateway"``) that defines it."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # the next read is a plain attribute
        return value

    return __getattr__
