"""Who may use the operator interface, and how much: the bearer token, the rule that an
API without a token listens on loopback only, and per-client rate limits.

Sans-IO: the token check and the rate limiter take text and time and answer yes or no;
``aiohttp`` appears only in :mod:`.app`.

The token comes from a file (first line, as systemd's ``LoadCredential`` or a Kubernetes
secret provide it) or an environment variable; never from a command-line flag, which any
local user could read in ``ps``. Without a token the API is open to anyone who can connect,
so that is allowed only when asked for explicitly (``allow_no_token``) and only on a
loopback address; an API on another interface always needs the token.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from ..lwm2m.exceptions import ConfigError

__all__ = ["HttpSettings", "load_token", "check_exposure", "token_matches", "RateLimiter", "TOKEN_ENV"]

TOKEN_ENV = "LWM2M_SMS_HTTP_TOKEN"
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class HttpSettings:
    """Everything the operator interface is limited by; every field has a default.

    * ``max_body`` (64 KiB): largest request body (413 beyond).
    * ``max_sse_clients`` (32): concurrent event streams (503 beyond), at most
      ``max_sse_per_client`` (4) from one address (429 beyond);
      ``sse_backlog`` (1000) events buffered per stream before a slow reader is cut off.
    * ``rate``/``burst`` (20/s, 60): requests per client address (429 beyond).
    * ``max_operations`` (1000): device operations in flight or queued via the API (503).
    * ``max_observations`` (1000): observations started through the API.
    * ``operation_wait`` (120 s): how long a request waits for the device before it is
      answered 202 with an operation to follow.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: Optional[str] = None
    allow_no_token: bool = False
    max_body: int = 64 * 1024
    max_sse_clients: int = 32
    max_sse_per_client: int = 4
    sse_backlog: int = 1000
    rate: float = 20.0
    burst: int = 60
    max_operations: int = 1000
    max_observations: int = 1000
    operation_wait: float = 120.0
    max_clients_tracked: int = 10_000


def load_token(file: Optional[str] = None, env: str = TOKEN_ENV) -> Optional[str]:
    """The token from ``file`` (its first line) or else from the environment variable
    ``env``; None when neither is set. ConfigError for an unreadable file or a token too
    short to resist guessing."""
    token: Optional[str] = None
    if file:
        try:
            with open(file, encoding="utf-8") as f:
                token = f.readline().strip()
        except OSError as exc:
            raise ConfigError(f"HTTP token file {file}: {exc.strerror or exc}") from None
        if not token:
            raise ConfigError(f"HTTP token file {file} is empty")
    else:
        token = os.environ.get(env, "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"HTTP token is shorter than {MIN_TOKEN_LENGTH} characters")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def check_exposure(settings: HttpSettings) -> None:
    """ConfigError unless the API is protected by a token, or is explicitly opened without
    one on a loopback address."""
    if settings.token:
        return
    if not settings.allow_no_token:
        raise ConfigError(
            f"the HTTP API needs a token (file or ${TOKEN_ENV}); "
            "--http-no-token opens it without one on loopback only"
        )
    if not is_loopback(settings.host):
        raise ConfigError(f"the HTTP API on {settings.host} (not loopback) needs a token")


def token_matches(expected: Optional[str], given: Optional[str]) -> bool:
    """Constant-time comparison; True when no token is configured."""
    if expected is None:
        return True
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


class RateLimiter:
    """A token bucket per client key: ``rate`` per second, up to ``burst`` at once. The
    map of clients is bounded (least recently seen forgotten first), so a flood of source
    addresses costs memory in proportion to ``max_clients`` only."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: "OrderedDict[str, tuple[float, float]]" = OrderedDict()
        self.refused = 0

    def allow(self, client: str, now: float) -> bool:
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        else:
            self.refused += 1
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return ok

    def retry_after(self, client: str) -> float:
        tokens, _ = self._buckets.get(client, (0.0, 0.0))
        return max(0.0, (1.0 - tokens) / self.rate) if self.rate > 0 else 60.0
