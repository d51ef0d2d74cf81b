"""Configuration of the simulated SMSC: accounts, limits, store and impairments (TOML).

With no config at all the SMSC accepts every bind whatever its system_id and password (a
test SMSC that anything can talk to); once ``[[accounts]]`` are listed, only those bind and
a wrong password gets ESME_RINVPASWD. Example (every key optional)::

    [smsc]
    system_id = "SIMSMSC"      # sent in bind resps
    max_short_message = 140    # longer short_message: ESME_RINVMSGLEN
    max_queue = 100000         # messages held; past it submit_sm gets ESME_RMSGQFUL
    validity = 3600            # s, when submit_sm gives no validity_period
    retry_min = 0.5            # s, back-off for undeliverable messages, doubling ...
    retry_max = 30             # ... up to this
    deliver_window = 64        # unacknowledged deliver_sm per bind
    deliver_timeout = 10       # s to wait for a deliver_sm_resp
    store = "smsc.db"          # SQLite file: accepted messages survive a restart

    [[accounts]]
    system_id = "server"
    password = "secret"
    address_range = "^\\+?1555.*"  # used when the bind's own address_range is empty
    throttle = 0               # submit_sm per second for this account, 0 = unlimited

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

__all__ = ["Account", "Impairments", "SmscConfig", "load_config"]


@dataclass
class Account:
    system_id: str
    password: str = ""
    address_range: str = ""
    throttle: float = 0.0


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
    max_short_message: int = 140
    max_queue: int = 100_000
    validity: float = 3600.0
    retry_min: float = 0.5
    retry_max: float = 30.0
    deliver_window: int = 64
    deliver_timeout: float = 10.0
    store: str | None = None
    impairments: Impairments = field(default_factory=Impairments)

    @property
    def open_access(self) -> bool:
        return not self.accounts

    def account(self, system_id: str) -> Account | None:
        for acc in self.accounts:
            if acc.system_id == system_id:
                return acc
        return None


def _pick(cls, table: dict[str, Any], where: str):
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
    cfg = _pick(SmscConfig, smsc, "[smsc]")
    cfg.accounts = [_pick(Account, a, "[[accounts]]") for a in data.get("accounts", [])]
    cfg.impairments = _pick(Impairments, dict(data.get("impairments", {})), "[impairments]")
    return cfg


def load_config(path: str | Path | None) -> SmscConfig:
    """Read a TOML config; None gives the default (open access, no impairments)."""
    if path is None:
        return SmscConfig()
    with open(path, "rb") as f:
        return config_from_dict(tomllib.load(f))
