"""An LwM2M 1.0.2 client simulator on aiocoap: objects /0, /1, /3, all four bootstrap
modes, register, periodic Update, queue mode, Execute /1/x/8, de-register on shutdown.

One module per job:

- :mod:`.accounts`: server accounts as /0 and /1 describe them, the security check;
- :mod:`.objecttree`: the objects and the operations on them (sans-IO);
- :mod:`.handlers`: a CoAP request in, a response out (device management and bootstrap);
- :mod:`.observe`: observations and when they notify (pmin, pmax, gt, lt, st);
- :mod:`.reception`: the SMS trust check and the queue-mode radio (what gets in);
- :mod:`.registration`: Register, Update, De-register per server account;
- :mod:`.bootstrap`: smartcard, hold-off, retry back-off, server-initiated bootstrap;
- :mod:`.site`: the aiocoap resource the context serves;
- :mod:`.device`: :class:`Lwm2mClient`, which puts them together.
- :mod:`.lean` and :mod:`.lean_link`: lean devices for fleets of 100,000 in one process (a
  compact record each on one SMS link; Register, Update, De-register, Read of /3/0).
"""

from ..udp import udp_context
from .accounts import NOSEC, SMS_NOSEC, ServerAccount, check_security
from .bootstrap import BootstrapSchedule, Smartcard
from .device import DEFAULT_QUEUE_WINDOW, Lwm2mClient
from .objecttree import Refused, default_device

__all__ = [
    "Lwm2mClient", "ServerAccount", "Smartcard", "BootstrapSchedule", "Refused", "udp_context",
    "default_device", "check_security", "NOSEC", "SMS_NOSEC", "DEFAULT_QUEUE_WINDOW",
]
