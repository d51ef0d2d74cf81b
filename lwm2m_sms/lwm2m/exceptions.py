"""Errors of the LwM2M layer, all :class:`~lwm2m_sms.errors.Lwm2mSmsError`."""

from __future__ import annotations

from typing import Any

from ..errors import Lwm2mSmsError

__all__ = [
    "Lwm2mError", "UnknownEndpoint", "RequestFailed", "DeviceUnreachable", "InvalidResponse", "ConfigError",
]


class Lwm2mError(Lwm2mSmsError):
    """Base of the LwM2M layer's errors."""


class UnknownEndpoint(Lwm2mError, KeyError):
    """No registration for this endpoint name."""

    def __str__(self) -> str:
        return f"no registration for endpoint {self.args[0]!r}"


class RequestFailed(Lwm2mError):
    """The device answered a device-management request with an error code."""

    def __init__(self, endpoint: str, operation: str, path: str, code: Any, diagnostic: str = ""):
        self.endpoint, self.operation, self.path, self.code, self.diagnostic = endpoint, operation, path, code, diagnostic
        extra = f" ({diagnostic})" if diagnostic else ""
        super().__init__(f"{operation} {path} on {endpoint}: {code}{extra}")


class DeviceUnreachable(Lwm2mError):
    """The request got no answer (timeout, transport error)."""

    def __init__(self, endpoint: str, operation: str, path: str, cause: BaseException):
        self.endpoint, self.operation, self.path, self.cause = endpoint, operation, path, cause
        super().__init__(f"{operation} {path} on {endpoint}: no answer ({cause!r})")


class InvalidResponse(Lwm2mError):
    """The device answered with success but its payload does not decode for the path
    (``cause`` is the :class:`~lwm2m_sms.errors.DecodeError`)."""

    def __init__(self, endpoint: str, operation: str, path: str, cause: BaseException):
        self.endpoint, self.operation, self.path, self.cause = endpoint, operation, path, cause
        super().__init__(f"{operation} {path} on {endpoint}: undecodable answer ({cause})")


class ConfigError(Lwm2mError, ValueError):
    """A configuration this implementation refuses (e.g. a security mode other than NoSec)."""
