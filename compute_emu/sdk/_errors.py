"""``SendError`` and ``SendErrorCause`` (mirror ``fastly::http::request::SendError``)."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._request import Request


class SendErrorCause(Enum):
    """Why a backend request failed. Member names are the Rust variant names; values describe."""

    DnsTimeout = "DNS timeout"
    DnsError = "DNS error"
    DestinationNotFound = "destination not found"
    DestinationUnavailable = "destination unavailable"
    DestinationIpUnroutable = "destination IP unroutable"
    ConnectionRefused = "connection refused"
    ConnectionTerminated = "connection terminated"
    ConnectionTimeout = "connection timeout"
    ConnectionLimitReached = "connection limit reached"
    TlsProtocolError = "TLS protocol error"
    TlsCertificateError = "TLS certificate error"
    TlsAlertReceived = "TLS alert received"
    TlsConfigurationError = "TLS configuration error"
    HttpIncompleteResponse = "incomplete HTTP response"
    HttpResponseHeaderSectionTooLarge = "HTTP response header section too large"
    HttpResponseBodyTooLarge = "HTTP response body too large"
    HttpResponseTimeout = "HTTP response timeout"
    HttpResponseStatusInvalid = "HTTP response status invalid"
    HttpUpgradeFailed = "HTTP upgrade failed"
    HttpProtocolError = "HTTP protocol error"
    HttpRequestCacheKeyInvalid = "HTTP request cache key invalid"
    HttpRequestUriInvalid = "HTTP request URI invalid"
    InternalError = "internal error"
    #: compute-emu addition: Viceroy answers ``Inval`` when the backend name is unknown.
    UnknownBackend = "unknown backend"

    @property
    def description(self) -> str:
        """Short human description, e.g. ``"connection refused"``."""
        return self.value

    @property
    def is_timeout(self) -> bool:
        """True for the timeout causes (DNS, connect, response)."""
        return self in _TIMEOUTS

    def __str__(self) -> str:
        return self.value


_TIMEOUTS = frozenset(
    {
        SendErrorCause.DnsTimeout,
        SendErrorCause.ConnectionTimeout,
        SendErrorCause.HttpResponseTimeout,
    }
)


class SendError(Exception):
    """A backend request (or handoff) failed. Mirrors Rust's ``SendError``."""

    def __init__(
        self,
        backend_name: str,
        root_cause: SendErrorCause,
        detail: str = "",
        sent_req: Request | None = None,
    ) -> None:
        self._backend_name = backend_name
        self._root_cause = root_cause
        self._detail = detail
        self._sent_req = sent_req
        super().__init__(backend_name, root_cause, detail)

    def backend_name(self) -> str:
        """Name of the backend the request was sent to."""
        return self._backend_name

    def root_cause(self) -> SendErrorCause:
        """The underlying cause."""
        return self._root_cause

    @property
    def detail(self) -> str:
        """Extra text about the failure (may be empty)."""
        return self._detail

    def into_sent_req(self) -> Request | None:
        """The request that was sent (its body was consumed), if the host kept it."""
        return self._sent_req

    def __str__(self) -> str:
        detail = f": {self._detail}" if self._detail else ""
        return (
            f"error sending request: {self._root_cause.description}{detail}"
            f" to backend {self._backend_name}"
        )

    def __repr__(self) -> str:
        return (
            f"SendError({self._backend_name!r}, SendErrorCause.{self._root_cause.name}, "
            f"{self._detail!r})"
        )
