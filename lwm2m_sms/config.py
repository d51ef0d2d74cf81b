"""``lwm2m-sms server --config server.toml``: the server's options from a TOML file.

Every command-line option of ``lwm2m-sms server`` has a key in the file (the table below,
:data:`SERVER_KEYS`); a flag given on the command line overrides the file. Values are
checked as the command line checks them (the file's values become the parser's defaults,
which argparse converts with each option's own type), so a file and the flags it stands
for give the same settings.

Secrets (the SMPP password, the SIM PIN, the HTTP API token) are never values in the file:
the file names a file holding them (``password_file``, ``pin_file``, ``token_file``) or an
environment variable (``password_env``, ``pin_env``; the token's is
``LWM2M_SMS_HTTP_TOKEN``), so the file can be world-readable and kept in version control.

Reading it raises :class:`ConfigFileError` (one line naming the file, the key and the
problem) for an unreadable file, bad TOML, an unknown section or key, a value of the wrong
type, or a secret written inline.
"""

from __future__ import annotations

import os
import tomllib
from typing import Any, Callable

from .errors import Lwm2mSmsError

__all__ = ["ConfigFileError", "SERVER_KEYS", "load_server_config"]


class ConfigFileError(Lwm2mSmsError, ValueError):
    """A configuration file that cannot be used."""


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("a string")
    return v


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError("a number")
    return float(v)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("an integer")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("true or false")
    return v


def _strs(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(i, str) for i in v):
        raise TypeError("a list of strings")
    return list(v)


def _one_of(v: Any, *choices: str) -> str:
    # argparse checks choices on the command line only, not on defaults: checked here
    if v not in choices:
        raise TypeError(" or ".join(repr(c) for c in choices))
    return str(v)


def _wake_up(v: Any) -> str:
    if isinstance(v, str) and v in ("now", "never"):
        return v
    return str(_num(v))  # the option's own type turns it back into seconds


def _hostport(v: Any) -> str:
    return _str(v)  # checked by the option's HOST:PORT type


# (section, key) -> (argparse dest, value check). Secrets are handled apart (_SECRETS).
SERVER_KEYS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("server", "udp"): ("udp", _hostport),
    ("server", "db"): ("db", _str),
    ("server", "local_db"): ("local_db", _str),
    ("server", "node"): ("node", _str),
    ("server", "durability"): ("durability", lambda v: _one_of(v, "normal", "full")),
    ("server", "msisdn"): ("msisdn", _str),
    ("server", "grace"): ("grace", _num),
    ("server", "lwm2m_versions"): ("lwm2m_version", _strs),
    ("server", "bootstrap_config"): ("bootstrap_config", _str),
    ("smpp", "smsc"): ("smpp", _hostport),
    ("smpp", "system_id"): ("system_id", _str),
    ("smpp", "system_type"): ("system_type", _str),
    ("smpp", "address_range"): ("address_range", _str),
    ("smpp", "store"): ("smpp_store", _str),
    ("smpp", "wait"): ("smpp_wait", _num),
    ("modem", "port"): ("modem", _str),
    ("modem", "profile"): ("modem_profile", _str),
    ("security", "sms_security"): ("sms_security", _str),  # a file (its keys stay out of this one)
    ("security", "state"): ("security_state", _str),
    ("routing", "wake_up"): ("wake_up", _wake_up),
    ("routing", "udp_window"): ("udp_window", _num),
    ("routing", "sms_window"): ("sms_window", _num),
    ("routing", "queue_ttl"): ("queue_ttl", _num),
    ("routing", "udp_timeout"): ("udp_timeout", _num),
    ("routing", "us_fallback"): ("us_fallback", _bool),
    ("routing", "allow_register"): ("allow_register", _strs),
    ("limits", "max_registrations"): ("max_registrations", _int),
    ("limits", "max_link_format"): ("max_link_format", _int),
    ("limits", "lifetime_range"): ("lifetime_range", _str),
    ("limits", "max_endpoint"): ("max_endpoint", _int),
    ("http", "listen"): ("http", _hostport),
    ("http", "token_file"): ("http_token_file", _str),
    ("http", "no_token"): ("http_no_token", _bool),
    ("http", "max_body"): ("http_max_body", _int),
    ("http", "max_streams"): ("http_max_streams", _int),
    ("http", "rate"): ("http_rate", _num),
}

# secret dest -> (section, inline key refused, key naming a file, key naming a variable)
_SECRETS: dict[str, tuple[str, str, str, str]] = {
    "password": ("smpp", "password", "password_file", "password_env"),
    "pin": ("modem", "pin", "pin_file", "pin_env"),
}


def _read_secret(where: str, kind: str, name: str) -> str:
    if kind == "file":
        try:
            with open(name, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigFileError(f"{where}: cannot read {name}: {exc.strerror or exc}") from None
    value = os.environ.get(name)
    if value is None:
        raise ConfigFileError(f"{where}: environment variable {name} is not set")
    return value


def load_server_config(path: str) -> dict[str, Any]:
    """The ``lwm2m-sms server`` option values (argparse dest -> value) that ``path`` sets."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigFileError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    secret_keys = {(s, k) for s, *keys in _SECRETS.values() for k in keys}
    sections = {s for s, _ in SERVER_KEYS} | {s for s, _ in secret_keys}
    out: dict[str, Any] = {}
    for section, table in data.items():
        if section not in sections:
            raise ConfigFileError(f"{path}: unknown section [{section}] (known: {', '.join(sorted(sections))})")
        if not isinstance(table, dict):
            raise ConfigFileError(f"{path}: {section} must be a [section]")
        for key, value in table.items():
            where = f"{path}: {section}.{key}"
            if (section, key) in secret_keys:
                continue
            if (section, key) not in SERVER_KEYS:
                known = sorted(k for s, k in SERVER_KEYS if s == section)
                raise ConfigFileError(f"{where}: unknown key (known in [{section}]: {', '.join(known)})")
            dest, check = SERVER_KEYS[(section, key)]
            try:
                out[dest] = check(value)
            except TypeError as exc:
                raise ConfigFileError(f"{where}: expected {exc}, not {value!r}") from None
    for dest, (section, inline, file_key, env_key) in _SECRETS.items():
        table = data.get(section, {})
        if inline in table:
            raise ConfigFileError(f"{path}: {section}.{inline}: a secret does not belong in the file; "
                                  f"name a file ({file_key}) or an environment variable ({env_key})")
        for key, kind in ((file_key, "file"), (env_key, "env")):
            if key in table:
                try:
                    name = _str(table[key])
                except TypeError as exc:
                    raise ConfigFileError(f"{path}: {section}.{key}: expected {exc}") from None
                out[dest] = _read_secret(f"{path}: {section}.{key}", kind, name)
    return out
