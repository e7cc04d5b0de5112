"""The SDK's Wasm host: :class:`~._interface.Host` over the component's ``fastly:compute``
imports (componentize-py's ``wit_world`` bindings), so the same ``compute_emu.sdk`` code runs
inside a component built with Fastly's toolchain. :func:`serve_request` is what the built
component's ``HttpIncoming.handle`` calls for each request.

Each interface call is one or a few imports: the client request is read from the
``http-req.request`` and ``http-body`` the export receives (header fields in arrival order,
as sent, from ``http-downstream.downstream-original-header-names``); responses go out with
``http-resp.send-downstream`` (``-streaming`` for a body the app writes as it runs); backend
requests are ``http-req.send``/``send-async``/``send-async-streaming`` with the readthrough
cache's knobs as ``set-cache-override`` and the ``fastly-xqd-cache-key`` header; handoffs are
``redirect-to-grip-proxy``/``redirect-to-websocket-proxy``. Stores, lookups, ERL, the Core
cache, purge, logs and the instance are in :mod:`._wit_services`. Standard library only: this
runs on Wasm CPython (no threads, sockets, ``ssl``, ``resource``).

Deliberate differences from the native host (what the WIT cannot express):

- ``set_before_send``/``set_after_send`` raise ``HostError("unsupported")`` naming the hook:
  Fastly's SDKs run them guest-side on the ``http-cache`` interface, a readthrough cache of
  their own that is not built here (and compute-emu's ``wit_world`` does not implement).
- A send error carries its cause (``send-error-detail``), not the native host's text detail;
  an unknown backend is found with ``backend.open`` (no list of the known ones).
- ``handoff_fanout`` to a backend that does not exist fails with ``SendError`` (the WIT takes
  a ``backend`` resource, so there is no name to hand Pushpin); natively Pushpin answers 502.
- Backend response headers come grouped by name, names as the host spells them (lowercase on
  Compute); the client request keeps arrival order and the names as sent.
- ``backend()`` reports what the ``backend`` getters give: no path prefix, certificate or SNI
  host, CA certificates or connection options (``BackendInfo.options``); ``register_backend``
  passes the options the WIT has setters for.
- ``cache_object()`` has no surrogate keys, vary rule or sensitive flag (no WIT getter).
- A readthrough cache key of other than 32 bytes is sent as its SHA-256 (the header takes 32).
- A body stream the SDK made itself (a gunzipping view, ...) is read whole before a backend
  request is sent (an ``http-body`` from the host is passed on unread).
"""

from __future__ import annotations

import ipaddress
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from wit_world.imports import (  # type: ignore[import-not-found]
    async_io,
    http_body,
    http_downstream,
    http_req,
    http_resp,
    http_types,
)

from ._errors import SendError, SendErrorCause
from ._host import bind_host
from ._interface import (
    BackendResponse,
    ClientRequestParts,
    Handle,
    HandoffKind,
    Headers,
    HostError,
    OutgoingRequest,
    OutgoingResponse,
    StreamSink,
)
from ._wit_backends import WitBackends
from ._wit_calls import (
    WitBodyStream,
    WitSink,
    body_handle,
    calling,
    err_of,
    grouped_headers,
    listed,
    new_body,
    sized,
)
from ._wit_services import WitServices
from ._wit_values import (
    CACHE_KEY_HEADER,
    VERSIONS,
    arrival_order,
    cache_key_value,
    ip_address,
    send_error_cause,
    version_name,
)

_HOOKS = "the readthrough cache's before/after-send hooks (Fastly's SDKs run them on http-cache)"


class _Pending:
    """A started backend request: its ``pending-response`` and the backend's name."""

    def __init__(self, pollable: Any, backend: str) -> None:
        self.pollable = pollable
        self.backend = backend


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value is None:
        return None
    return ip_address(value.value, type(value).__name__.endswith("Ipv4"))


def _version(message: Any) -> str:
    with calling("get-version"):
        return VERSIONS.get(message.get_version().name, "HTTP/1.1")


def _set_head(head: Any, version: str, headers: Headers, manual_framing: bool) -> None:
    """Version, header fields and framing mode of a request or response head."""
    head.set_version(http_types.HttpVersion[version_name(version)])
    for name, value in headers:
        head.append_header(name, value)
    if manual_framing:
        head.set_framing_headers_mode(http_types.FramingHeadersMode.MANUALLY_FROM_HEADERS)


class WitHost(WitServices, WitBackends):
    """:class:`~._interface.Host` for one request of a component, over its imports."""

    def __init__(self, request: Any, body: Any) -> None:
        self._client = request  # the http-req.request the export received
        self._client_body = body  # its http-body
        self._taken = False
        self._answered: str | None = None  # what the app did with its client, once it did
        self._streams: list[WitSink] = []  # client response bodies still open
        self._backends: dict[str, Any] = {}  # backend resources by name
        self._endpoints: dict[str, Any] = {}  # log endpoints by name

    # -- the client request and its answer -----------------------------------------------------
    def take_client_request(self) -> ClientRequestParts:
        if self._taken:
            raise RuntimeError("Request.from_client() can only be called once per request")
        self._taken = True
        request = self._client
        headers = arrival_order(grouped_headers(request, "http-req"), self._original_names())
        with calling("http-body.get-known-length"):
            length = http_body.get_known_length(self._client_body)
        with calling("http-downstream"):
            client_ip = _ip(http_downstream.downstream_client_ip_addr(request))
            server_ip = _ip(http_downstream.downstream_server_ip_addr(request))
        return ClientRequestParts(
            method=sized(request.get_method, "http-req.get-method"),
            url=sized(request.get_uri, "http-req.get-uri"),
            version=_version(request),
            headers=headers,
            body=None if length == 0 else WitBodyStream(self._client_body),
            client_ip=client_ip or ipaddress.IPv4Address(0),
            server_ip=server_ip,
            request_id=sized(
                lambda size: http_downstream.downstream_client_request_id(request, size),
                "http-downstream.downstream-client-request-id",
            ),
        )

    def _original_names(self) -> list[str] | None:
        """Every client header field's name as sent, in order (``None`` if the host has not)."""
        try:
            names = listed(
                lambda size, cursor: http_downstream.downstream_original_header_names(
                    self._client, size, cursor
                ),
                "http-downstream.downstream-original-header-names",
            )
        except HostError:
            return None
        return [name.decode("latin-1") for name in names]

    def _decide(self, what: str, outcome: str) -> None:
        """Record the app's one decision about its client (a second one is an error)."""
        if self._answered is not None:
            raise RuntimeError(f"cannot {what}: {self._answered} for this request")
        self._answered = outcome

    def send_to_client(self, response: OutgoingResponse) -> None:
        if response.status < 200 and response.status != 103:  # as the native host
            raise ValueError(
                f"cannot send an informational status ({response.status}) to the client"
            )
        head = self._response(response)
        if response.status == 103:  # Early Hints: the host decides (locally: dropped, said)
            with calling("http-resp.send-downstream"):
                http_resp.send_downstream(head, body_handle(response.body))
            return
        self._decide("send a response", "a response was already sent")
        stream = response.body.stream
        if stream is None or isinstance(stream, WitBodyStream):
            body = body_handle(response.body)
            with calling("http-resp.send-downstream"):
                http_resp.send_downstream(head, body)
            return
        sink = self._stream(head)  # a stream the SDK made: written out as it is read
        sink.write(response.body.prefix)
        while chunk := stream.read_chunk():
            sink.write(chunk)
        sink.finish()

    def stream_to_client(self, response: OutgoingResponse) -> StreamSink:
        self._decide("stream a response", "a response was already sent")
        sink = self._stream(self._response(response))
        parts = response.body
        if parts.prefix:
            sink.write(parts.prefix)
        if isinstance(parts.stream, WitBodyStream):
            with calling("http-body.append"):
                http_body.append(sink.handle, parts.stream.take())
        elif parts.stream is not None:
            while chunk := parts.stream.read_chunk():
                sink.write(chunk)
        return sink

    def _stream(self, head: Any) -> WitSink:
        body = new_body()
        with calling("http-resp.send-downstream-streaming"):
            http_resp.send_downstream_streaming(head, body)
        sink = WitSink(body, "the client response")
        self._streams.append(sink)
        return sink

    def _response(self, response: OutgoingResponse) -> Any:
        """An ``http-resp.response`` with the head of ``response``."""
        with calling("http-resp"):
            head = http_resp.Response.new()
            head.set_status(response.status)
            _set_head(head, response.version, response.headers, response.framing_from_headers)
            if not response.keepalive:
                head.set_http_keepalive_mode(http_resp.KeepaliveMode.NO_KEEPALIVE)
        return head

    def handoff(self, request: OutgoingRequest, backend: str, kind: HandoffKind) -> None:
        if self._answered is not None:
            raise RuntimeError(f"cannot hand off to {kind}: {self._answered} for this request")
        target = self._backend_or_error(backend)
        head = self._request(request)
        try:
            if kind == "fanout":
                head.redirect_to_grip_proxy(target)
            else:
                head.redirect_to_websocket_proxy(target)
        except Exception as exc:
            if (err := err_of(exc)) is None:
                raise
            call = "redirect-to-grip-proxy" if kind == "fanout" else "redirect-to-websocket-proxy"
            raise SendError(
                backend, SendErrorCause.InternalError, f"{call} failed: {type(err.value).__name__}"
            ) from None
        self._decide(f"hand off to {kind}", "the request was already handed off")

    # -- backends ------------------------------------------------------------------------------
    def _backend_or_error(self, name: str) -> Any:
        found = self._open_backend(name)
        if found is None:
            raise SendError(name, SendErrorCause.UnknownBackend, f"no backend named {name!r}")
        return found

    def _request(self, request: OutgoingRequest) -> Any:
        """An ``http-req.request`` with the head (and cache knobs) of ``request``."""
        knobs = request.cache
        if knobs.before_send is not None or knobs.after_send is not None:
            raise HostError("unsupported", f"Request.set_before_send()/set_after_send(): {_HOOKS}")
        with calling("http-req"):
            head = http_req.Request.new()
            head.set_method(request.method)
            head.set_uri(request.url)
            _set_head(head, request.version, request.headers, request.framing_from_headers)
            if knobs.cache_key is not None:
                head.insert_header(CACHE_KEY_HEADER, cache_key_value(knobs.cache_key))
            if knobs.pass_:
                head.set_cache_override(http_req.CacheOverride_Pass())
            elif (
                knobs.ttl is not None
                or knobs.stale_while_revalidate is not None
                or knobs.pci
                or knobs.surrogate_key is not None
            ):
                details = http_req.CacheOverrideDetails(
                    ttl=None if knobs.ttl is None else int(knobs.ttl),
                    stale_while_revalidate=(
                        None
                        if knobs.stale_while_revalidate is None
                        else int(knobs.stale_while_revalidate)
                    ),
                    pci=knobs.pci,
                    surrogate_key=knobs.surrogate_key,
                    extra=None,
                )
                head.set_cache_override(http_req.CacheOverride_Override(details))
        return head

    def _send_error(self, exc: Exception, backend: str, call: str) -> Exception:
        """The ``SendError`` for a failed ``call`` (``exc`` itself when it is no WIT error):
        its cause from the ``send-error-detail``, its detail the WIT value's name."""
        err = err_of(exc)
        if err is None:
            return exc
        detail = getattr(err.value, "detail", None)
        said = detail if detail is not None else getattr(err.value, "error", err.value)
        return SendError(backend, send_error_cause(detail), f"{call} failed: {type(said).__name__}")

    def _answer(self, response: Any, body: Any, backend: str) -> BackendResponse:
        with calling("http-resp"):
            status = int(response.get_status())
            length = http_body.get_known_length(body)
        return BackendResponse(
            status=status,
            version=_version(response),
            headers=tuple(
                (name, value)
                for name, values in grouped_headers(response, "http-resp").items()
                for value in values
            ),
            body=None if length == 0 else WitBodyStream(body),
            backend=backend,
            length=length,
        )

    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        target = self._backend_or_error(backend)
        head, body = self._request(request), body_handle(request.body)
        try:
            response, response_body = http_req.send(head, body, target)
        except Exception as exc:
            raise self._send_error(exc, backend, "http-req.send") from None
        return self._answer(response, response_body, backend)

    def send_async(self, request: OutgoingRequest, backend: str) -> Handle:
        target = self._backend_or_error(backend)
        head, body = self._request(request), body_handle(request.body)
        try:
            return _Pending(http_req.send_async(head, body, target), backend)
        except Exception as exc:
            raise self._send_error(exc, backend, "http-req.send-async") from None

    def send_async_streaming(
        self, request: OutgoingRequest, backend: str
    ) -> tuple[StreamSink, Handle]:
        target = self._backend_or_error(backend)
        head, body = self._request(request), body_handle(request.body, writable=True)
        try:
            pending = http_req.send_async_streaming(head, body, target)
        except Exception as exc:
            raise self._send_error(exc, backend, "http-req.send-async-streaming") from None
        return WitSink(body, f"the upload to {backend}"), _Pending(pending, backend)

    def pending_ready(self, pending: Handle) -> bool:
        with calling("async-io.pollable.is-ready"):
            return bool(_pending(pending).pollable.is_ready())

    def wait_pending(self, pending: Handle) -> BackendResponse:
        started = _pending(pending)
        try:
            response, body = http_req.await_response(started.pollable)
        except Exception as exc:
            raise self._send_error(exc, started.backend, "http-req.await-response") from None
        return self._answer(response, body, started.backend)

    def select(self, pending: Sequence[Handle]) -> int:
        with calling("async-io.select"):
            return int(async_io.select([_pending(p).pollable for p in pending]))

    # -- running main() and the end of the request ----------------------------------------------
    def run(self, main: Callable[[], object]) -> None:
        """``main()`` with the SDK bound to this host, then :meth:`finish`; what it raises
        passes (:func:`serve_request` answers it with :meth:`fail`)."""
        with bind_host(self):  # type: ignore[arg-type]  # the host interface of _interface.py
            main()
        self.finish()

    def finish(self) -> None:
        """``main()`` returned: streams it left open end cleanly (as natively); a request it
        never answered gets an empty 200, as on Compute."""
        for sink in self._streams:
            if not sink.finished:
                sink.finish()
        if self._answered is None:
            self._answered = "a response was already sent"
            with calling("http-resp.send-downstream"):
                http_resp.send_downstream(http_resp.Response.new(), new_body())

    def fail(self, error: BaseException) -> None:
        """``main()`` raised: its traceback goes to stderr (the service's log on Compute), and
        the client gets a plain-text 500 unless it was answered already, as from
        ``compute-emu serve``: the app's frames and the error for a client on this machine,
        ``Internal Server Error`` for any other (on Compute, every client)."""
        traceback.print_exception(error, file=sys.stderr)
        if self._answered is not None:
            self.finish()
            return
        self._answered = "a response was already sent"
        with calling("http-downstream.downstream-client-ip-addr"):
            client = _ip(http_downstream.downstream_client_ip_addr(self._client))
        text = error_text(error) if client is not None and client.is_loopback else ""
        head = self._response(OutgoingResponse(500, "HTTP/1.1", (("content-type", _TEXT),)))
        with calling("http-resp.send-downstream"):
            http_resp.send_downstream(head, new_body((text or "Internal Server Error\n").encode()))


_TEXT = b"text/plain; charset=utf-8"
_PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


def error_text(error: BaseException) -> str:
    """A short traceback of what ``main()`` raised: the app's frames (compute-emu's own left
    out), then the error."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(_PACKAGE_DIR)
    ]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(error), error)
    return "".join(lines)


def _pending(handle: Handle) -> _Pending:
    if not isinstance(handle, _Pending):
        raise HostError("invalid_argument", f"not a pending request of this host: {handle!r}")
    return handle


def serve_request(main: Callable[[], object], request: Any, body: Any) -> None:
    """Run ``main()`` for the request the component's ``HttpIncoming.handle`` received, with
    the SDK bound to a :class:`WitHost` over it. What escapes ``main()`` answers 500 (never a
    trap); a ``main()`` that answers nothing gets an empty 200, as on Compute."""
    host = WitHost(request, body)
    try:
        host.run(main)
    except (Exception, SystemExit) as exc:
        host.fail(exc)
