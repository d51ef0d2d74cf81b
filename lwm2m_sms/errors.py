"""The project's exception types.

Every error raised on purpose by lwm2m_sms, modems or smsc derives from
:class:`Lwm2mSmsError`. Decoders of wire formats raise only :class:`DecodeError` (or a
subclass) whatever bytes they are given; the tests prove it with hypothesis.
"""


class Lwm2mSmsError(Exception):
    """Base of every error this project raises on purpose."""


class DecodeError(Lwm2mSmsError, ValueError):
    """Bytes or text that do not decode: the message says what is wrong and where."""


class AddressError(DecodeError):
    """A phone number, short code or sender name that is malformed."""


class EncodeError(Lwm2mSmsError, ValueError):
    """A value that cannot be put on the wire (too long, out of range, not encodable)."""


class PayloadTooLarge(EncodeError):
    """A payload that does not fit into the allowed number of SMS segments."""


class BearerError(Lwm2mSmsError):
    """A bearer (modem, SMPP link, loopback) could not take or deliver a message."""


class BearerClosed(BearerError):
    """The bearer is closed or not started."""


class DeliveryFailed(BearerError):
    """A message accepted for sending was finally reported as not delivered."""
