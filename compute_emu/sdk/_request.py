"""``Request`` (mirrors ``fastly::Request``)."""

from __future__ import annotations

import copy
import ipaddress
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Self
from urllib.parse import SplitResult, parse_qsl, quote, urlencode

from ._backend import Backend
from ._body import Body
from ._body_streams import gunzip_if_asked
from ._cache_knobs import CacheKnobs, CandidateResponse
from ._client_info import ClientInfo, ClientMeta
from ._headers import HeaderMap
from ._host import current_host
from ._interface import BodyParts, CacheOptions, Candidate, OutgoingRequest
from ._message import Message, normalize_version
from ._modes import FramingHeadersMode
from ._pending import PendingRequest
from ._response import Response
from ._streaming import StreamingBody
from ._url import PATH_SAFE, QUERY_SAFE, check_method, has_empty_query, parse_url

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Request(Message, CacheKnobs, ClientInfo):
    """An HTTP request: the client's (``from_client()``) or one the app builds to send.

    Internal state the runtime uses: ``_method`` (``str``, as given: methods are
    case-sensitive), ``_url`` (a normalised ``urllib.parse.SplitResult``; ``get_url_str()``
    gives the text), ``_version``, ``_headers`` (:class:`HeaderMap`), ``_body``
    (:class:`Body`), ``_cache_override`` (the cache knobs, read by the readthrough cache) and
    ``_auto_decompress_gzip``.
    """

    def __init__(self, method: str, url: str | SplitResult) -> None:
        """A request with no headers and an empty body (HTTP/1.1). ``method`` is uppercased."""
        self._init_message()
        self._method = check_method(method)
        self._url = parse_url(url)
        self._empty_query = has_empty_query(url, self._url)
        self._from_client = False
        self._client_ip: IpAddress | None = None
        self._client_request_id: str | None = None
        self._client_meta: ClientMeta | None = None
        self._cache_override: dict[str, Any] = {}
        self._auto_decompress_gzip = False

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def new(cls, method: str, url: str | SplitResult) -> Request:
        """Same as ``Request(method, url)``."""
        return cls(method, url)

    @classmethod
    def get(cls, url: str) -> Request:
        """A ``GET`` request."""
        return cls("GET", url)

    @classmethod
    def head(cls, url: str) -> Request:
        """A ``HEAD`` request."""
        return cls("HEAD", url)

    @classmethod
    def post(cls, url: str) -> Request:
        """A ``POST`` request."""
        return cls("POST", url)

    @classmethod
    def put(cls, url: str) -> Request:
        """A ``PUT`` request."""
        return cls("PUT", url)

    @classmethod
    def delete(cls, url: str) -> Request:
        """A ``DELETE`` request."""
        return cls("DELETE", url)

    @classmethod
    def connect(cls, url: str) -> Request:
        """A ``CONNECT`` request."""
        return cls("CONNECT", url)

    @classmethod
    def options(cls, url: str) -> Request:
        """An ``OPTIONS`` request."""
        return cls("OPTIONS", url)

    @classmethod
    def trace(cls, url: str) -> Request:
        """A ``TRACE`` request."""
        return cls("TRACE", url)

    @classmethod
    def patch(cls, url: str) -> Request:
        """A ``PATCH`` request."""
        return cls("PATCH", url)

    @classmethod
    def from_client(cls) -> Request:
        """The client request. Its body is read lazily; a second call raises ``RuntimeError``."""
        parts = current_host("Request.from_client()").take_client_request()
        req = cls(parts.method, parts.url)
        req._version = normalize_version(parts.version)
        req._headers = HeaderMap(list(parts.headers))
        if parts.body is not None:
            req._body = Body.from_stream(parts.body)
        req._from_client = True
        req._client_ip = parts.client_ip
        req._client_request_id = parts.request_id or None
        req._client_meta = ClientMeta(list(parts.headers), parts.server_ip)
        return req

    def is_from_client(self) -> bool:
        """Whether this is the request ``from_client()`` returned (clones are not)."""
        return self._from_client

    def clone_without_body(self) -> Request:
        """A copy with the same method, URL, version, headers and knobs, and an empty body."""
        new = copy.copy(self)
        new._headers = self._headers.copy()
        new._body = Body()
        new._cache_override = dict(self._cache_override)
        new._from_client = False
        new._client_ip = None
        new._client_request_id = None
        new._client_meta = None
        return new

    def clone_with_body(self) -> Request:
        """A copy including the body; reads the body into memory and both keep a copy."""
        data = self._body.into_bytes()
        self._body = Body(data)
        new = self.clone_without_body()
        new._body = Body(data)
        return new

    # -- method and URL --------------------------------------------------------------------
    def get_method(self) -> str:
        """The method, uppercase (e.g. ``"GET"``)."""
        return self._method

    def get_method_str(self) -> str:
        """Same as :meth:`get_method`."""
        return self._method

    def set_method(self, method: str) -> None:
        """Set the method (uppercased)."""
        self._method = check_method(method)

    def with_method(self, method: str) -> Self:
        """Builder form of :meth:`set_method`."""
        self.set_method(method)
        return self

    def get_url(self) -> SplitResult:
        """The URL as a ``urllib.parse.SplitResult``."""
        return self._url

    def get_url_str(self) -> str:
        """The URL as text (an empty query keeps its ``?``, as in Rust)."""
        if self._empty_query and not self._url.query:
            fragment = self._url.fragment
            text = self._url._replace(fragment="").geturl() + "?"
            return text + ("#" + fragment if fragment else "")
        return self._url.geturl()

    def set_url(self, url: str | SplitResult) -> None:
        """Set the URL (absolute http/https, else ``ValueError``)."""
        self._url = parse_url(url)
        self._empty_query = has_empty_query(url, self._url)

    def with_url(self, url: str | SplitResult) -> Self:
        """Builder form of :meth:`set_url`."""
        self.set_url(url)
        return self

    def get_path(self) -> str:
        """The path, still percent-encoded (always starts with ``/``)."""
        return self._url.path

    def set_path(self, path: str) -> None:
        """Set the path (a leading ``/`` is added; unsafe characters are percent-encoded)."""
        if not path.startswith("/"):
            path = "/" + path
        self._url = self._url._replace(path=quote(path, safe=PATH_SAFE))

    def with_path(self, path: str) -> Self:
        """Builder form of :meth:`set_path`."""
        self.set_path(path)
        return self

    def get_query_str(self) -> str | None:
        """The raw query string without ``?`` (``""`` for a bare ``?``), ``None`` if none."""
        return self._url.query if self._url.query or self._empty_query else None

    def get_query_parameter(self, name: str) -> str | None:
        """The first value of query parameter ``name``, form-decoded, or ``None``."""
        for key, value in parse_qsl(self._url.query, keep_blank_values=True):
            if key == name:
                return value
        return None

    def get_query(self) -> dict[str, str]:
        """All query parameters, form-decoded; the first value wins for repeated names."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(self._url.query, keep_blank_values=True):
            result.setdefault(key, value)
        return result

    def set_query_str(self, query: str) -> None:
        """Set the raw query string (without ``?``); unsafe characters are percent-encoded."""
        self._url = self._url._replace(query=quote(query, safe=QUERY_SAFE))
        self._empty_query = not self._url.query

    def with_query_str(self, query: str) -> Self:
        """Builder form of :meth:`set_query_str`."""
        self.set_query_str(query)
        return self

    def set_query(self, query: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Set the query from a mapping or ``(name, value)`` pairs, form-encoded."""
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        self._url = self._url._replace(query=urlencode(pairs))
        self._empty_query = not self._url.query

    def with_query(self, query: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Self:
        """Builder form of :meth:`set_query`."""
        self.set_query(query)
        return self

    def remove_query(self) -> None:
        """Remove the query string."""
        self._url = self._url._replace(query="")
        self._empty_query = False

    # -- client info -----------------------------------------------------------------------
    def get_client_ip_addr(self) -> IpAddress | None:
        """The client's IP address for the client request; ``None`` for requests the app made."""
        return self._client_ip

    def get_client_request_id(self) -> str | None:
        """The client request id for the client request, if the host provides one."""
        return self._client_request_id

    # -- cache knobs (the readthrough cache; more in _cache_knobs.CacheKnobs) -----------------
    def set_pass(self, pass_: bool = True) -> None:
        """Never look this request up in the cache nor store its response."""
        self._cache_override["pass"] = bool(pass_)

    def set_ttl(self, ttl: int) -> None:
        """Cache the response for ``ttl`` seconds, whatever its headers say."""
        self._cache_override["ttl"] = int(ttl)

    def set_stale_while_revalidate(self, swr: int) -> None:
        """Serve the response stale for ``swr`` seconds while it is refreshed."""
        self._cache_override["stale_while_revalidate"] = int(swr)

    def set_pci(self, pci: bool) -> None:
        """Mark the request PCI-sensitive (its cached object is flagged sensitive)."""
        self._cache_override["pci"] = bool(pci)

    def set_surrogate_key(self, key: str) -> None:
        """Tag the cached response with these surrogate keys (space-separated)."""
        self._cache_override["surrogate_key"] = str(key)

    def set_auto_decompress_gzip(self, enabled: bool) -> None:
        """Ask the host to gunzip the backend response."""
        self._auto_decompress_gzip = bool(enabled)

    # -- sending ---------------------------------------------------------------------------
    def with_auto_decompress_gzip(self, enabled: bool) -> Self:
        """Builder form of :meth:`set_auto_decompress_gzip`."""
        self.set_auto_decompress_gzip(enabled)
        return self

    def send(self, backend: str | Backend) -> Response:
        """Send to the backend and wait for the response head; raises ``SendError``."""
        host = current_host("Request.send()")
        name = _backend_name(backend)
        response = Response._from_backend_response(host.send(self._outgoing(), name), self)
        return gunzip_if_asked(self, response)

    def send_async(self, backend: str | Backend) -> PendingRequest:
        """Start sending to the backend and return at once; see ``PendingRequest``."""
        host = current_host("Request.send_async()")
        name = _backend_name(backend)
        return PendingRequest(host.send_async(self._outgoing(), name), self)

    def send_async_streaming(self, backend: str | Backend) -> tuple[StreamingBody, PendingRequest]:
        """Start sending with a body the app goes on writing: ``(body, pending)``.

        The request's current body goes first, then what is written to ``body``; call
        ``body.finish()`` before ``pending.wait()``. A body dropped unfinished aborts the
        upload (the backend sees an incomplete request)."""
        host = current_host("Request.send_async_streaming()")
        name = _backend_name(backend)
        sink, handle = host.send_async_streaming(self._outgoing(), name)
        return StreamingBody(sink), PendingRequest(handle, self)

    def handoff_fanout(self, backend: str) -> None:
        """Pass this request through the Fanout GRIP proxy to ``backend``; no response follows."""
        host = current_host("Request.handoff_fanout()")
        host.handoff(self._outgoing(body=False), _backend_name(backend), "fanout")

    def handoff_websocket(self, backend: str) -> None:
        """Pass the WebSocket connection straight to ``backend``; no response follows."""
        host = current_host("Request.handoff_websocket()")
        host.handoff(self._outgoing(body=False), _backend_name(backend), "websocket")

    def upgrade_websocket(self, backend: str) -> None:
        """Deprecated name of :meth:`handoff_websocket`."""
        warnings.warn(
            "Request.upgrade_websocket() is deprecated; use handoff_websocket()",
            DeprecationWarning,
            stacklevel=2,
        )
        self.handoff_websocket(backend)

    def __repr__(self) -> str:
        return f"<Request {self._method} {self.get_url_str()}>"

    # -- as values for the host ------------------------------------------------------------
    def _outgoing(self, *, body: bool = True) -> OutgoingRequest:
        """This request as a value for the host. With ``body`` its body moves into the value
        (this request is left with an empty one); a handoff sends the client's own body."""
        sent: list[OutgoingRequest] = []  # for the before-send hook: see _before_send
        value = OutgoingRequest(
            method=self._method,
            url=self.get_url_str(),
            version=self._version,
            headers=tuple(self._headers.items()),
            body=self.take_body().take_parts() if body else BodyParts(),
            framing_from_headers=self._framing is FramingHeadersMode.ManuallyFromHeaders,
            cache=self._cache_options(sent),
        )
        sent.append(value)
        return value

    def _like(self, value: OutgoingRequest) -> Request:
        """A request as ``value`` describes it, keeping this one's knobs and client facts
        (what the app's ``set_before_send`` hook gets)."""
        new = self.clone_without_body()
        new._method = value.method
        new.set_url(value.url)
        new._version = value.version
        new._headers = HeaderMap(list(value.headers))
        new._body = Body.from_parts(value.body)
        new._framing = (
            FramingHeadersMode.ManuallyFromHeaders
            if value.framing_from_headers
            else FramingHeadersMode.Automatic
        )
        new._from_client = self._from_client
        new._client_ip = self._client_ip
        new._client_request_id = self._client_request_id
        new._client_meta = self._client_meta
        return new

    def _cache_options(self, sent: list[OutgoingRequest]) -> CacheOptions:
        """The cache knobs as a value, the hooks wrapped to take and give values."""
        knobs = self._cache_override
        if not knobs:
            return _NO_KNOBS
        swr = knobs.get("stale_while_revalidate")
        return CacheOptions(
            pass_=bool(knobs.get("pass")),
            ttl=float(knobs["ttl"]) if "ttl" in knobs else None,
            stale_while_revalidate=None if swr is None else float(swr),
            pci=bool(knobs.get("pci")),
            surrogate_key=knobs.get("surrogate_key"),
            cache_key=knobs.get("cache_key"),
            before_send=self._before_send(knobs.get("before_send"), sent),
            after_send=_after_send(knobs.get("after_send")),
        )

    def _before_send(
        self, hook: Callable[[Request], object] | None, sent: list[OutgoingRequest]
    ) -> Callable[[OutgoingRequest], OutgoingRequest] | None:
        """The app's hook as the host calls it. Given the very value this request was sent as,
        the hook changes this request (as Rust's ``&mut Request``: the app sees what its hook
        did); given one the host derived from it (a HEAD's GET, a revalidation), a copy."""
        if hook is None:
            return None

        def before_send(value: OutgoingRequest) -> OutgoingRequest:
            if sent and value is sent[0]:
                request = self
                request._body = Body.from_parts(value.body)
            else:
                request = self._like(value)
            hook(request)
            return request._outgoing()

        return before_send


_NO_KNOBS = CacheOptions()


def _after_send(
    hook: Callable[[CandidateResponse], object] | None,
) -> Callable[[Candidate], Candidate] | None:
    if hook is None:
        return None

    def after_send(value: Candidate) -> Candidate:
        candidate = CandidateResponse._from_value(value)
        hook(candidate)
        return candidate._value()

    return after_send


def _backend_name(backend: str | Backend) -> str:
    if isinstance(backend, Backend):
        return backend.name()
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or a Backend, not {type(backend).__name__}")
    return backend
