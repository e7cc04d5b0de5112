"""Sending, bodies, the downstream request and polling: ``http-req``, ``http-resp``,
``http-body``, ``http-downstream`` and ``async-io`` over ``compute_emu.sdk``.

Differences from Compute (and Viceroy): trailers raise ``Unsupported``; ``next-request``
never yields a second request (each request gets a fresh sandbox here); a pollable body is
always "ready" (a read blocks until data comes).
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from ..sdk._backend import Backend
from ..sdk._errors import SendError
from ..sdk._host import current_host
from ..sdk._pending import PendingRequest
from ..sdk._request import Request
from ..sdk._response import Response
from ..sdk._wit_values import CACHE_KEY_HEADER
from . import handles, registry
from .handles import BodyHandle, body_of, new_body
from .messages import nul_list, request_of, response_of
from .registry import impl

_CHUNK = 64 * 1024


def backend_name(backend: object) -> str:
    """The name of a ``backend.backend`` handle."""
    sdk_backend: Backend = handles.emu(backend, Backend)
    return sdk_backend.name()


def send_error(exc: SendError) -> Exception:
    """``Err(http_req.ErrorWithDetail)`` for a failed send, its detail filled from the cause
    (Viceroy leaves it empty; the SDK then raises its ConnectionError, Timeout, ...)."""
    http_req = registry.wit("http_req")
    cause = exc.root_cause().name
    detail_cls = getattr(http_req, f"SendErrorDetail_{cause}", None)
    detail: object = None
    if cause == "DnsError":
        detail = detail_cls(http_req.DnsErrorDetail(None, None))  # type: ignore[misc]
    elif cause == "TlsAlertReceived":
        detail = detail_cls(http_req.TlsAlertReceivedDetail(None))  # type: ignore[misc]
    elif detail_cls is not None:
        detail = detail_cls()
    kind = "InvalidArgument" if detail is None else "GenericError"
    # componentize-py's Err is a frozen dataclass: its cause is set by the caller's
    # ``raise ... from exc``, never by assigning ``__cause__`` (FrozenInstanceError)
    return registry.err(http_req.ErrorWithDetail(detail, registry.error_value(kind)))


def _prepare(request: object, body: object, backend: object) -> tuple[Request, str]:
    """The request with its body, ready for ``backend``: a path-only URI (``requests.get("/x",
    fastly_backend=...)``) is completed with the backend's authority, and an empty ``Host``
    (what the SDK sets for one) is dropped, so the backend's own host is sent."""
    req = request_of(request)
    req.set_body(body_of(body).take())
    sdk_backend: Backend = handles.emu(backend, Backend)
    key = req.get_header_bytes(CACHE_KEY_HEADER)
    if key is not None:  # how a guest sets the readthrough cache key (64 hex digits)
        req.remove_header(CACHE_KEY_HEADER)
        try:
            req.set_cache_key(bytes.fromhex(key.decode("latin-1")))
        except ValueError as exc:
            raise registry.error("InvalidArgument") from exc
    relative = getattr(req, "_wit_relative", None)
    if relative:
        scheme = "https" if sdk_backend.is_ssl() else "http"
        host = sdk_backend.get_host()
        host = f"[{host}]" if ":" in host else host
        req.set_url(f"{scheme}://{host}:{sdk_backend.get_port()}{relative}")
        if req.get_header_bytes("host") == b"":
            req.remove_header("host")
    return req, sdk_backend.name()


def _wrap_response(response: Response) -> tuple[Any, Any]:
    return handles.new("http_resp", "Response", response), new_body(response.take_body())


# -- http-req ------------------------------------------------------------------------------
@impl("http_req", "send")
@impl("http_req", "send_uncached")
def send(request: object, body: object, backend: object) -> tuple[Any, Any]:
    req, name = _prepare(request, body, backend)
    try:
        response = req.send(name)
    except SendError as exc:
        raise send_error(exc) from exc
    return _wrap_response(response)


@impl("http_req", "send_async")
@impl("http_req", "send_async_uncached")
def send_async(request: object, body: object, backend: object) -> Any:
    req, name = _prepare(request, body, backend)
    try:
        pending = req.send_async(name)
    except SendError as exc:  # an unknown backend fails at once
        raise registry.error("InvalidArgument") from exc
    return handles.pollable(pending)


@impl("http_req", "send_async_streaming")
@impl("http_req", "send_async_uncached_streaming")
def send_async_streaming(request: object, body: object, backend: object) -> Any:
    """The body handle stays open: what is written to it follows what it held, until
    ``http-body.close`` ends the upload."""
    handle = body_of(body)
    req, name = _prepare(request, body, backend)
    try:
        out, pending = req.send_async_streaming(name)
    except SendError as exc:  # an unknown backend fails at once
        raise registry.error("InvalidArgument") from exc
    handle.closed, handle.out = False, out
    return handles.pollable(pending)


@impl("http_req", "await_response")
def await_response(pending: object) -> tuple[Any, Any]:
    token: PendingRequest = handles.emu(pending, PendingRequest)
    try:
        response = token.wait()
    except SendError as exc:
        raise send_error(exc) from exc
    return _wrap_response(response)


def _handoff(request: Request, backend: str, kind: str) -> None:
    try:
        if kind == "fanout":
            request.handoff_fanout(backend)
        else:
            request.handoff_websocket(backend)
    except (SendError, RuntimeError) as exc:
        raise registry.error("InvalidArgument") from exc


@impl("http_req", "Request.redirect_to_grip_proxy")
def redirect_to_grip_proxy(self: object, backend: object) -> None:
    """Fanout: the client connection goes through Pushpin to ``backend`` (no response)."""
    _handoff(request_of(self), backend_name(backend), "fanout")


@impl("http_req", "Request.redirect_to_websocket_proxy")
def redirect_to_websocket_proxy(self: object, backend: object) -> None:
    """WebSocket passthrough: the client connection is relayed to ``backend``."""
    _handoff(request_of(self), backend_name(backend), "websocket")


@impl("http_req", "upgrade_websocket")
def upgrade_websocket(backend: object) -> None:
    downstream = handles.current().downstream
    if downstream is None:
        raise registry.error("InvalidArgument")
    _handoff(downstream, backend_name(backend), "websocket")


# -- http-resp -----------------------------------------------------------------------------
@impl("http_resp", "send_downstream")
def send_downstream(response: object, body: object) -> None:
    resp = response_of(response)
    resp.set_body(body_of(body).take())
    try:
        resp.send_to_client()
    except RuntimeError as exc:
        raise registry.error("HttpUser") from exc


@impl("http_resp", "send_downstream_streaming")
def send_downstream_streaming(response: object, body: object) -> None:
    handle = body_of(body)
    pending = handle.take()
    resp = response_of(response)
    try:
        out = resp.stream_to_client()
    except RuntimeError as exc:
        raise registry.error("HttpUser") from exc
    handle.closed = False
    handle.out = out
    for chunk in pending.read_chunks(_CHUNK):
        out.write(chunk)


# -- http-body -----------------------------------------------------------------------------
@impl("http_body", "new")
def body_new() -> Any:
    return new_body()


@impl("http_body", "append")
def body_append(dest: object, src: object) -> None:
    target, source = body_of(dest), body_of(src)
    if target.out is not None:
        for chunk in source.take().read_chunks(_CHUNK):
            target.out.write(chunk)
    else:
        target.body.append(source.take())


@impl("http_body", "read")
def body_read(body: object, chunk_size: int) -> bytes:
    return body_of(body).read(max(int(chunk_size), 1))


@impl("http_body", "write")
def body_write(body: object, buf: bytes) -> int:
    handle = body_of(body)
    if handle.closed:
        raise registry.error("AuxiliaryError")  # WIT: the body has already been closed
    return handle.write(buf)


@impl("http_body", "write_front")
def body_write_front(body: object, buf: bytes) -> None:
    body_of(body).write_front(buf)


@impl("http_body", "close")
def body_close(body: object) -> None:
    handle = body_of(body)
    if handle.out is not None and not handle.closed:
        handle.out.finish()
    handle.closed = True


@impl("http_body", "get_known_length")
def body_known_length(body: object) -> int | None:
    handle = body_of(body)
    return None if handle.out is not None else handle.known_length()


# -- http-downstream -----------------------------------------------------------------------
class _NoMoreRequests:
    """``next-request`` here: each request gets its own sandbox, so none ever follows."""


@impl("http_downstream", "next_request")
def next_request(options: object) -> Any:
    return handles.pollable(_NoMoreRequests())


@impl("http_downstream", "await_request")
def await_request(pending: object) -> None:
    handles.emu(pending, _NoMoreRequests)


def ip_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> Any:
    """A ``types.ip-address`` for an ``ipaddress`` object (``None`` stays ``None``)."""
    types_ = registry.wit("types")
    if ip is None:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return types_.IpAddress_Ipv4(tuple(ip.packed))
    groups = ip.exploded.split(":")
    return types_.IpAddress_Ipv6(tuple(int(g, 16) for g in groups))


def _client_request(handle: object) -> Request:
    request = request_of(handle)
    if not request.is_from_client():
        raise registry.error("InvalidArgument")  # only the downstream request has these
    return request


@impl("http_downstream", "downstream_client_ip_addr")
def downstream_client_ip_addr(ds_request: object) -> Any:
    return ip_address(_client_request(ds_request).get_client_ip_addr())


@impl("http_downstream", "downstream_server_ip_addr")
def downstream_server_ip_addr(ds_request: object) -> Any:
    return ip_address(_client_request(ds_request).get_server_ip_addr())


@impl("http_downstream", "downstream_client_request_id")
def downstream_client_request_id(ds_request: object, max_len: int) -> str:
    request_id = _client_request(ds_request).get_client_request_id() or ""
    if len(request_id) > max_len:
        raise registry.error("BufferLen", len(request_id))
    return request_id


def _original_names(ds_request: object) -> list[bytes]:
    """The header names as the client sent them (their case kept)."""
    meta = _client_request(ds_request)._client_meta
    return [] if meta is None else [name.encode() for name, _ in meta.headers]


@impl("http_downstream", "downstream_original_header_names")
def downstream_original_header_names(
    ds_request: object, max_len: int, cursor: int
) -> tuple[str, int | None]:
    data, next_cursor = nul_list(_original_names(ds_request), max_len, cursor)
    return data.decode("latin-1"), next_cursor


@impl("http_downstream", "downstream_original_header_count")
def downstream_original_header_count(ds_request: object) -> int:
    return len(_original_names(ds_request))


def _no_tls(ds_request: object, *args: object) -> None:
    """The client connection is plain HTTP locally: no TLS details (none, as in Viceroy)."""
    _client_request(ds_request)


for _name in (
    "downstream_tls_cipher_openssl_name",
    "downstream_tls_protocol",
    "downstream_tls_client_hello",
    "downstream_tls_raw_client_certificate",
    "downstream_tls_client_cert_verify_result",
    "downstream_tls_client_servername",
    "downstream_tls_ja3_md5",
    "downstream_tls_ja4",
    "downstream_compliance_region",
):
    impl("http_downstream", _name)(_no_tls)


@impl("http_downstream", "downstream_client_ddos_detected")
def _false(ds_request: object) -> bool:
    _client_request(ds_request)
    return False


@impl("http_downstream", "fastly_key_is_valid")
def fastly_key_is_valid(ds_request: object) -> bool:
    """Whether its ``Fastly-Key`` is one of ``[local_server] fake_valid_fastly_keys``."""
    return _client_request(ds_request).fastly_key_is_valid()


# -- async-io ------------------------------------------------------------------------------
class _Ready:
    """``pollable.new-ready``."""


def _is_ready(value: object) -> bool:
    if isinstance(value, PendingRequest):
        return value.is_ready()
    return True  # bodies (a read blocks until data comes), new-ready, next-request


@impl("async_io", "Pollable.is_ready")
def is_ready(self: object) -> bool:
    return _is_ready(handles.emu(self))


@impl("async_io", "Pollable.new_ready")
def new_ready(cls: type) -> Any:
    return handles.pollable(_Ready())


@impl("async_io", "Pollable.__exit__")
def pollable_exit(self: object, *args: object) -> None:
    value = getattr(self, "_emu", None)
    if isinstance(value, BodyHandle) and value.out is not None and not value.closed:
        value.out.finish()  # dropping a streaming body; compute-emu ends it cleanly
        value.closed = True


@impl("async_io", "select")
def select(handles_: list[object]) -> int:
    values = [handles.emu(h) for h in handles_]
    if not values:
        raise ValueError("async_io.select() needs at least one handle (Compute traps)")
    for index, value in enumerate(values):
        if _is_ready(value):
            return index
    tokens = [value._handle for value in values]  # all PendingRequest, none done yet
    return current_host("async_io.select()").select(tokens)


@impl("async_io", "select_with_timeout")
def select_with_timeout(handles_: list[object], timeout_ms: int) -> int | None:
    values = [handles.emu(h) for h in handles_]
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        for index, value in enumerate(values):
            if _is_ready(value):
                return index
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
