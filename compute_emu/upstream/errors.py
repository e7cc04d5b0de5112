"""The one error type of the upstream client, and how connect failures map onto it."""

from __future__ import annotations

import socket
import ssl
from enum import Enum

import anyio


class FailureKind(Enum):
    """How an upstream request failed. Values describe the failure."""

    DNS = "DNS error"
    CONNECT_REFUSED = "connection refused"
    CONNECT_TIMEOUT = "connection timeout"
    UNREACHABLE = "destination unavailable"
    TLS_CERTIFICATE = "TLS certificate error"
    TLS_PROTOCOL = "TLS protocol error"
    TERMINATED = "connection terminated"  # the connection broke
    INCOMPLETE = "incomplete response"  # it closed before the response was complete
    PROTOCOL = "protocol error"  # what came back is not valid HTTP/1.1 (or is unsafe)
    HEAD_TOO_LARGE = "response head too large"
    RESPONSE_TIMEOUT = "response timeout"
    REQUEST = "request could not be sent"  # invalid as given (a body longer than declared)
    BODY = "request body failed"  # the caller's body iterator raised (``__cause__``)
    INTERNAL = "internal error"

    @property
    def connecting(self) -> bool:
        """True for failures before a connection existed (nothing was sent)."""
        return self in _CONNECTING


_CONNECTING = frozenset(
    {
        FailureKind.DNS,
        FailureKind.CONNECT_REFUSED,
        FailureKind.CONNECT_TIMEOUT,
        FailureKind.UNREACHABLE,
        FailureKind.TLS_CERTIFICATE,
        FailureKind.TLS_PROTOCOL,
    }
)
STALE = frozenset({FailureKind.TERMINATED, FailureKind.INCOMPLETE})


class UpstreamError(Exception):
    """An upstream request failed; ``kind`` says how, ``detail`` says more."""

    def __init__(self, kind: FailureKind, detail: str = "") -> None:
        super().__init__(f"{kind.value}: {detail}" if detail else kind.value)
        self.kind = kind
        self.detail = detail


def connect_failure(exc: BaseException) -> UpstreamError:
    """The UpstreamError for an exception raised while connecting (and TLS handshaking)."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup) and cause.exceptions:
        cause = cause.exceptions[0]
    if isinstance(cause, OSError):
        # anyio tried every address ("All connection attempts failed"): report the reason
        return connect_failure(cause)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UpstreamError(FailureKind.TLS_CERTIFICATE, str(exc.verify_message or exc))
    if isinstance(exc, ssl.SSLError):
        return UpstreamError(FailureKind.TLS_PROTOCOL, str(exc))
    if isinstance(exc, anyio.BrokenResourceError | anyio.EndOfStream):
        return UpstreamError(FailureKind.TLS_PROTOCOL, "the TLS handshake was broken off")
    if isinstance(exc, socket.gaierror):
        return UpstreamError(FailureKind.DNS, str(exc))
    if isinstance(exc, TimeoutError):
        return UpstreamError(FailureKind.CONNECT_TIMEOUT, "connect timed out")
    if isinstance(exc, ConnectionRefusedError):
        return UpstreamError(FailureKind.CONNECT_REFUSED, str(exc))
    if isinstance(exc, OSError):
        return UpstreamError(FailureKind.UNREACHABLE, str(exc))
    return UpstreamError(FailureKind.INTERNAL, repr(exc))
