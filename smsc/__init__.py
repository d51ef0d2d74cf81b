"""SMPP 3.4: the ESME link (a bearer) and a simulated SMSC.

Sans-IO parts (bytes and time in, values and bytes out):

* :mod:`smsc.pdu` and :mod:`smsc.session`: the PDU codec and session (framing, sequence
  numbers, bind state, answers to bad PDUs).
* :mod:`smsc.submit_window`: the ESME's send window, back-off, retries, drops and receipts.
* :mod:`smsc.mo`: a received deliver_sm/data_sm as the SMS core's values.
* :mod:`smsc.smsc_core`: the simulated SMSC's state (accounts, routing, windows, retries,
  expiry, receipts, limits, back-pressure).
* :mod:`smsc.address_range` (the linear-time address_range subset), :mod:`smsc.smpp_time`,
  :mod:`smsc.receipt` (receipt text and TLVs).

asyncio adapters:

* :mod:`smsc.link`: :class:`~smsc.link.SmppBearer`, the ESME side as a
  :class:`lwm2m_sms.bearer.Bearer` and :class:`lwm2m_sms.bearer.SegmentLink`, configured by
  :class:`~smsc.link.SmppLinkConfig`.
* :mod:`smsc.server`: :class:`~smsc.server.SimulatedSmsc`, configured by :mod:`smsc.config`
  (TOML), stored in :mod:`smsc.store`. ``lwm2m-sms smsc`` runs it as a process.

This package uses the SMS core of :mod:`lwm2m_sms` and never imports :mod:`modems`.
"""

from .config import Account, Impairments, SmscConfig, load_config
from .link import BindRefused, SmppBearer, SmppLinkConfig
from .server import SimulatedSmsc, SmscStats

__all__ = [
    "Account",
    "Impairments",
    "SmscConfig",
    "load_config",
    "BindRefused",
    "SmppBearer",
    "SmppLinkConfig",
    "SimulatedSmsc",
    "SmscStats",
]
