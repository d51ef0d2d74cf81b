"""The GSM modem bearer: AT line protocol (sans-IO), asyncio driver, pty modem emulator.

* :mod:`modems.at` — the AT response parser (bytes in, events out);
* :mod:`modems.channel` — one serial port, one command on the wire, URCs to a callback;
* :mod:`modems.driver` — :class:`ModemDriver`, the :class:`lwm2m_sms.bearer.Bearer` on a modem;
* :mod:`modems.profiles` — known quirks of real modems;
* :mod:`modems.info` — identification and state for ``lwm2m-sms modem-info``;
* :mod:`modems.emulator_core` / :mod:`modems.emulator` — the modem emulator (sans-IO core,
  pty adapter).

This package imports the SMS core from :mod:`lwm2m_sms` and never imports :mod:`smsc`.
The names below are imported on first use, so the sans-IO parser imports no serial code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lwm2m_sms.lazy import lazy_exports

_EXPORTS = {
    "ModemConfig": ".driver", "ModemDriver": ".driver", "ModemIdentity": ".driver", "PinRefused": ".driver",
    "ModemEmulator": ".emulator", "EmulatorCore": ".emulator_core",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    # "X as X": an explicit re-export for type checkers (the loader below is what runs)
    from .driver import (
        ModemConfig as ModemConfig,
        ModemDriver as ModemDriver,
        ModemIdentity as ModemIdentity,
        PinRefused as PinRefused,
    )
    from .emulator import ModemEmulator as ModemEmulator
    from .emulator_core import EmulatorCore as EmulatorCore
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
