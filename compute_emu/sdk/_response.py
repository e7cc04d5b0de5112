"""``Response`` (mirrors ``fastly::Response``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Self

from ._backend import Backend
from ._body import Body
from ._headers import HeaderMap
from ._host import current_host
from ._interface import BackendResponse, OutgoingResponse
from ._message import Message, as_body, normalize_version
from ._modes import FramingHeadersMode, HttpKeepaliveMode
from ._streaming import StreamingBody

if TYPE_CHECKING:
    from ._request import Request


def _check_status(status: int) -> int:
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
        raise ValueError(f"invalid HTTP status {status!r}: must be an int from 100 to 999")
    return int(status)


class Response(Message):
    """An HTTP response: one the app builds for the client, or one a backend returned.

    Internal state the runtime uses: ``_status`` (``int``), ``_version``, ``_headers``
    (:class:`HeaderMap`), ``_body`` (:class:`Body`), ``_backend_name`` and ``_backend_request``.
    """

    def __init__(self) -> None:
        """A ``200 OK`` response with no headers and an empty body."""
        self._init_message()
        self._status = 200
        self._backend_name: str | None = None
        self._backend_request: Request | None = None
        self._keepalive = HttpKeepaliveMode.Automatic

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def new(cls) -> Response:
        """Same as ``Response()``."""
        return cls()

    @classmethod
    def from_status(cls, status: int) -> Response:
        """An empty response with ``status``."""
        return cls().with_status(status)

    @classmethod
    def from_body(cls, body: Body | bytes | bytearray | str) -> Response:
        """A ``200 OK`` response with ``body``."""
        return cls().with_body(body)

    @classmethod
    def see_other(cls, destination: str) -> Response:
        """``303 See Other`` to ``destination``."""
        return cls.from_status(303).with_header("Location", destination)

    @classmethod
    def redirect(cls, destination: str) -> Response:
        """``308 Permanent Redirect`` to ``destination``."""
        return cls.from_status(308).with_header("Location", destination)

    @classmethod
    def temporary_redirect(cls, destination: str) -> Response:
        """``307 Temporary Redirect`` to ``destination``."""
        return cls.from_status(307).with_header("Location", destination)

    @classmethod
    def _from_backend(
        cls,
        status: int,
        headers: list[tuple[str, bytes]],
        body: Body,
        backend_name: str,
        backend_request: Request | None,
    ) -> Response:
        """For the runtime: the response ``backend_name`` returned to ``backend_request``."""
        resp = cls()
        resp._status = _check_status(status)
        resp._headers = HeaderMap(headers)
        resp._body = as_body(body)
        resp._backend_name = backend_name
        resp._backend_request = backend_request
        return resp

    @classmethod
    def _from_backend_response(
        cls, value: BackendResponse, backend_request: Request | None
    ) -> Response:
        """The response a host describes, with its body still on the wire."""
        body = Body() if value.body is None else Body.from_stream(value.body)
        resp = cls._from_backend(
            value.status, list(value.headers), body, value.backend, backend_request
        )
        resp._version = normalize_version(value.version)
        return resp

    def _outgoing(self) -> OutgoingResponse:
        """This response as a value for the host; its body moves into the value."""
        return OutgoingResponse(
            status=self._status,
            version=self._version,
            headers=tuple(self._headers.items()),
            body=self.take_body().take_parts(),
            framing_from_headers=self._framing is FramingHeadersMode.ManuallyFromHeaders,
            keepalive=self._keepalive is not HttpKeepaliveMode.NoKeepalive,
        )

    def clone_without_body(self) -> Response:
        """A copy with the same status, version, headers and backend, and an empty body."""
        new = copy.copy(self)
        new._headers = self._headers.copy()
        new._body = Body()
        new._backend_request = None
        return new

    def clone_with_body(self) -> Response:
        """A copy including the body (read into memory; both keep a copy)."""
        data = self._body.into_bytes()
        self._body = Body(data)
        new = self.clone_without_body()
        new._body = Body(data)
        return new

    # -- status ----------------------------------------------------------------------------
    def get_status(self) -> int:
        """The status code."""
        return self._status

    def set_status(self, status: int) -> None:
        """Set the status code (an ``int`` from 100 to 999, else ``ValueError``)."""
        self._status = _check_status(status)

    def with_status(self, status: int) -> Self:
        """Builder form of :meth:`set_status`."""
        self.set_status(status)
        return self

    # -- backend ---------------------------------------------------------------------------
    def is_from_backend(self) -> bool:
        """Whether a backend returned this response."""
        return self._backend_name is not None

    def get_backend_name(self) -> str | None:
        """Name of the backend that returned this response, else ``None``."""
        return self._backend_name

    def get_backend(self) -> Backend | None:
        """The backend that returned this response, else ``None``."""
        if self._backend_name is None:
            return None
        info = current_host("Response.get_backend()").backend(self._backend_name)
        return None if info is None else Backend(info)

    def get_backend_request(self) -> Request | None:
        """The request sent to the backend (its body was consumed), else ``None``."""
        return self._backend_request

    def take_backend_request(self) -> Request | None:
        """Take the backend request out (later calls return ``None``)."""
        req, self._backend_request = self._backend_request, None
        return req

    # -- connection ------------------------------------------------------------------------
    def set_http_keepalive_mode(self, mode: HttpKeepaliveMode) -> None:
        """``NoKeepalive`` closes the client connection after this response."""
        if not isinstance(mode, HttpKeepaliveMode):
            raise TypeError(f"mode must be an HttpKeepaliveMode, not {type(mode).__name__}")
        self._keepalive = mode

    def with_http_keepalive_mode(self, mode: HttpKeepaliveMode) -> Self:
        """Builder form of :meth:`set_http_keepalive_mode`."""
        self.set_http_keepalive_mode(mode)
        return self

    # -- sending ---------------------------------------------------------------------------
    def send_to_client(self) -> None:
        """Send this response to the client; ``RuntimeError`` if one was already sent."""
        current_host("Response.send_to_client()").send_to_client(self._outgoing())

    def stream_to_client(self) -> StreamingBody:
        """Send the head now and return the body to write to as the app goes on."""
        host = current_host("Response.stream_to_client()")
        return StreamingBody(host.stream_to_client(self._outgoing()))

    def __repr__(self) -> str:
        return f"<Response {self._status}>"
