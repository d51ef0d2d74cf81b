"""What the server's device-management methods return (values that cross into the HTTP
layer and users' programs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .content import Content, ContentFormat
from .path import LwM2MPath, format_path

__all__ = ["ReadResult"]


@dataclass(frozen=True)
class ReadResult:
    """The answer to a Read: the decoded ``value`` (shaped by the level of ``path``, see
    :mod:`lwm2m_sms.lwm2m.content`) and the content format the device answered in (None
    when it sent none; pre-registration codes are mapped to the registered ones)."""

    endpoint: str
    path: LwM2MPath
    value: Content
    content_format: Optional[ContentFormat]

    @property
    def uri_path(self) -> str:
        """The path as text: ``/3/0/0``."""
        return format_path(self.path)
