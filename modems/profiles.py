"""Modem profiles: the known quirks of real modems, chosen by +CGMI/+CGMM or by name.

A profile only says what the driver must do differently; everything standard (27.005 PDU
mode) is the default. Quirks covered:

* ``use_cmt``: route new SMS straight to the host (+CNMI mt=2, +CSMS=1, acknowledged with
  +CNMA). Several modems reject mt=2 or lose the SMS when +CNMA is late; for them the
  driver stores first (+CNMI mt=1, +CMTI) and reads/deletes (+CMGR/+CMGD). The driver also
  falls back on its own when the modem refuses +CNMI mt=2 or +CSMS=1.
* ``sim_ready_delay``: some modems answer +CPIN: READY seconds before the SMS part of the
  SIM is usable (+CMS ERROR 310/314 on +CPMS); the driver waits this long after the PIN.
* the +CMGS prompt without a space (some SIMCom firmware) is handled by the parser for every
  modem, so it needs no flag.

Sources: Quectel EC2x/BG9x AT manuals (+CNMI 2,2 with +CNMA supported), SIMCom SIM800
manual (+CNMA needs +CSMS=1; mt=2 supported), Huawei E3372/E3131 sticks (firmware often
refuses +CNMI mt=2: store-and-read), Telit ME910 reference guide (+CNMA within a timeout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ModemProfile", "PROFILES", "profile_for", "profile_by_name"]


@dataclass(frozen=True)
class ModemProfile:
    name: str
    match: str = ""  # regex on "<manufacturer> <model>", case-insensitive
    use_cmt: bool = True
    sim_ready_delay: float = 0.0
    storage: str = "SM"
    note: str = ""


PROFILES: tuple[ModemProfile, ...] = (
    ModemProfile("quectel", r"quectel|\b(ec2\d|eg\d\d|bg9\d|m95|uc20)\b", note="+CMT/+CNMA"),
    ModemProfile("simcom", r"simcom|\bsim(800|900|7[0-9]00)", sim_ready_delay=2.0, note="slow SIM after PIN"),
    ModemProfile("huawei", r"huawei|\b(e3372|e3131|e173|ms2131)", use_cmt=False, note="no +CNMI mt=2"),
    ModemProfile("telit", r"telit|\b(me910|le910|ul865|gl865)", note="+CNMA within timeout"),
    ModemProfile("store-and-read", use_cmt=False, note="+CMTI, +CMGR, +CMGD"),
    ModemProfile("generic", note="27.005 defaults"),
)


def profile_by_name(name: str) -> ModemProfile:
    for p in PROFILES:
        if p.name == name:
            return p
    raise ValueError(f"unknown modem profile {name!r}; known: {', '.join(p.name for p in PROFILES)}")


def profile_for(manufacturer: str, model: str) -> ModemProfile:
    """The first profile whose pattern matches the identification, else ``generic``."""
    ident = f"{manufacturer} {model}"
    for p in PROFILES:
        if p.match and re.search(p.match, ident, re.IGNORECASE):
            return p
    return profile_by_name("generic")
