"""SMPP 3.4: the ESME link (a bearer) and a simulated SMSC.

* :mod:`smsc.pdu` and :mod:`smsc.session`: the sans-IO PDU codec and session (framing,
  sequence numbers, bind state, answers to bad PDUs).
* :mod:`smsc.link`: :class:`~smsc.link.SmppBearer`, the ESME side as a
  :class:`lwm2m_sms.bearer.Bearer` and :class:`lwm2m_sms.bearer.SegmentLink`, configured by
  :class:`~smsc.link.SmppLinkConfig`.
* :mod:`smsc.server`: :class:`~smsc.server.SimulatedSmsc`, an SMPP server that routes by
  MSISDN, stores and retries, sends delivery receipts and injects faults; configured by
  :mod:`smsc.config` (TOML). ``lwm2m-sms smsc`` runs it as a process.
* :mod:`smsc.receipt`: delivery receipt text and TLVs; :mod:`smsc.store`: the SMSC's store.

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
