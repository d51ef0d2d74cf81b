"""Configuration of the simulated SMSC: accounts, limits, store and impairments (TOML).

Only the ``[[accounts]]`` listed bind; a wrong password gets ESME_RINVPASWD (compared in
constant time). An account owns the numbers its ``address_range`` matches (see
:mod:`smsc.address_range` for the pattern subset): its binds must ask for a range within it
(else ESME_RBINDFAIL), its submit_sm must come from one of them (else ESME_RINVSRCADR), and
traffic to those numbers goes only to its binds. An account without ``address_range`` is
unrestricted: it may bind for and send as any number that no account with a range owns
(a large account, or a test rig). With no accounts the SMSC
refuses every bind unless ``open = true`` (a demo or test SMSC anything can talk to, where
any system_id binds as an unrestricted account; it says so at start). Example (every key
optional)::

    [smsc]
    system_id = "SIMSMSC"      # sent in bind resps
    open = false               # true: unknown system_ids bind too, unrestricted (demos)
    max_short_message = 140    # longer short_message: ESME_RINVMSGLEN
    long_payload = "split"     # message_payload > 140 octets: "split" into concatenated
                               # SMS (a handset), "refuse" (ESME_RINVMSGLEN) or "pass"
    max_queue = 100000         # messages held; past it submit_sm gets ESME_RMSGQFUL
    max_store_bytes = 268435456  # octets of messages held; past it ESME_RMSGQFUL too
    account_max_queue = 50000  # messages one system_id may have held (ESME_RMSGQFUL) ...
    account_max_store_bytes = 134217728  # ... and their octets: no customer fills the SMSC
    max_write_buffer = 1048576 # octets queued to one connection before its reading pauses
    max_connections = 1000     # open connections; past it a new one is closed at once
    host_max_unbound = 32      # connections from one host not bound yet: one host cannot
                               # hold every slot without a password (bound ones: per account)
    account_max_binds = 32     # binds of one system_id at a time; past it ESME_RBINDFAIL
    bind_timeout = 10          # s from connect to a successful bind, then closed
    idle_timeout = 300         # s without a PDU from a bound ESME, then unbound; 0 = never
    validity = 3600            # s, when submit_sm gives no validity_period
    retry_min = 0.5            # s, back-off for undeliverable messages, doubling ...
    retry_max = 30             # ... up to this
    deliver_window = 64        # unacknowledged deliver_sm per bind
    deliver_timeout = 10       # s to wait for a deliver_sm_resp
    store = "smsc.db"          # SQLite file: accepted messages survive a restart

    [[accounts]]
    system_id = "server"
    password = "secret"
    address_range = "^\\+?1555.*"  # the numbers it owns; also the bind's range if it gives none
    throttle = 0               # submit_sm per second for this account, 0 = unlimited
    long_payload = ""          # as [smsc] long_payload, for messages *to* this account
    mo_distribution = "round_robin"  # several binds serve a number: "round_robin" over
                               # them, or "first" (the oldest bind with room in its window)

    [impairments]
    latency = 0.0      # s added to every delivery
    jitter = 0.0       # s, uniform random extra delay
    loss = 0.0         # % of messages silently lost in the network
    duplicate = 0.0    # % of messages delivered twice
    reorder = 0.0      # % of messages held back by reorder_delay s
    reorder_delay = 0.2
    throttle = 0       # submit_sm per second per bind, 0 = unlimited (ESME_RTHROTTLED)
    disconnect_every = 0   # s between forced disconnects of every bind, 0 = never
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .address_range import AddressRange, RangeError

__all__ = ["Account", "Impairments", "SmscConfig", "load_config"]


@dataclass
class Account:
    system_id: str
    password: str = ""
    address_range: str = ""
    throttle: float = 0.0
    long_payload: str = ""  # "" = the SMSC's default
    mo_distribution: str = "round_robin"

    def __post_init__(self) -> None:
        # what a bind can carry (SMPP 3.4 5.2.1: C-octet strings of 16 and 9 octets): a longer
        # or non-latin-1 password would never match, or fail the compare at every bind
        for name, value, most in (("system_id", self.system_id, 15), ("password", self.password, 8)):
            try:
                octets = value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"account {self.system_id!r}: {name} must be latin-1 text") from None
            if len(octets) > most or b"\0" in octets:
                raise ValueError(f"account {self.system_id!r}: {name} longer than {most} octets (SMPP 3.4 limit)")
        try:
            self.owns: AddressRange | None = AddressRange.parse(self.address_range) if self.address_range else None
        except RangeError as exc:
            raise ValueError(f"account {self.system_id!r}: address_range {self.address_range!r}: {exc}") from None
        if self.long_payload not in ("", *LONG_PAYLOAD):
            raise ValueError(f"account {self.system_id!r}: long_payload must be one of {', '.join(LONG_PAYLOAD)}")
        if self.mo_distribution not in MO_DISTRIBUTION:
            raise ValueError(f"account {self.system_id!r}: mo_distribution must be one of {', '.join(MO_DISTRIBUTION)}")


LONG_PAYLOAD = ("split", "refuse", "pass")
# How deliveries to a number spread over several binds of the account that serves it.
MO_DISTRIBUTION = ("round_robin", "first")


@dataclass
class Impairments:
    """Faults the SMSC injects; mutable at run time (``server.impairments.loss = 10``)."""

    latency: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.2
    throttle: float = 0.0
    disconnect_every: float = 0.0
    seed: int | None = None

    @property
    def delays(self) -> bool:
        return bool(self.latency or self.jitter or self.reorder)


@dataclass
class SmscConfig:
    system_id: str = "SIMSMSC"
    accounts: list[Account] = field(default_factory=list)
    open: bool = False
    max_short_message: int = 140
    long_payload: str = "split"
    max_queue: int = 100_000
    max_store_bytes: int = 256 * 1024 * 1024
    account_max_queue: int = 50_000
    account_max_store_bytes: int = 128 * 1024 * 1024
    max_write_buffer: int = 1024 * 1024
    max_connections: int = 1000
    host_max_unbound: int = 32
    account_max_binds: int = 32
    bind_timeout: float = 10.0
    idle_timeout: float = 300.0
    validity: float = 3600.0
    retry_min: float = 0.5
    retry_max: float = 30.0
    deliver_window: int = 64
    deliver_timeout: float = 10.0
    store: str | None = None
    impairments: Impairments = field(default_factory=Impairments)

    def __post_init__(self) -> None:
        if self.long_payload not in LONG_PAYLOAD:
            raise ValueError(f"long_payload must be one of {', '.join(LONG_PAYLOAD)}")

    @property
    def open_access(self) -> bool:
        """Unknown system_ids may bind (``open = true``)."""
        return self.open

    def account(self, system_id: str) -> Account | None:
        for acc in self.accounts:
            if acc.system_id == system_id:
                return acc
        return None


def _pick(cls: Any, table: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    return cls(**table)


def config_from_dict(data: dict[str, Any]) -> SmscConfig:
    unknown = set(data) - {"smsc", "accounts", "impairments"}
    if unknown:
        raise ValueError(f"unknown sections {', '.join(sorted(unknown))}")
    smsc = dict(data.get("smsc", {}))
    smsc.pop("accounts", None)
    smsc.pop("impairments", None)
    cfg: SmscConfig = _pick(SmscConfig, smsc, "[smsc]")
    cfg.accounts = [_pick(Account, a, "[[accounts]]") for a in data.get("accounts", [])]
    cfg.impairments = _pick(Impairments, dict(data.get("impairments", {})), "[impairments]")
    return cfg


def load_config(path: str | Path | None) -> SmscConfig:
    """Read a TOML config; None gives the default (no accounts: every bind refused unless
    ``open`` is then set)."""
    if path is None:
        return SmscConfig()
    with open(path, "rb") as f:
        return config_from_dict(tomllib.load(f))
