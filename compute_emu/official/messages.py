"""``http-req.request`` and ``http-resp.response``: heads over ``compute_emu.sdk`` messages.

WIT's buffer conventions are kept: a result longer than ``max-len`` is an
``error.buffer-len`` with the length needed; lists of names or values are NUL-terminated
items from ``cursor`` on, with the index of the first one that did not fit.
"""

from __future__ import annotations

from typing import Any

from ..sdk._message import Message, normalize_version
from ..sdk._modes import FramingHeadersMode, HttpKeepaliveMode
from ..sdk._request import Request
from ..sdk._response import Response
from ..sdk._url import parse_url
from . import handles, registry
from .registry import impl

_VERSIONS = {"HTTP/0.9": "HTTP09", "HTTP/1.0": "HTTP10", "HTTP/1.1": "HTTP11"}
_VERSIONS |= {"HTTP/2.0": "H2", "HTTP/3.0": "H3"}
RELATIVE_BASE = "http://localhost"  # WIT requests may have a path-only URI (static backends)


def fit(text: str, max_len: int) -> str:
    """``text``, or a buffer-len error when it is over ``max_len`` bytes."""
    if len(text.encode()) > max_len:
        raise registry.error("BufferLen", len(text.encode()))
    return text


def fit_bytes(data: bytes, max_len: int) -> bytes:
    if len(data) > max_len:
        raise registry.error("BufferLen", len(data))
    return data


def nul_list(items: list[bytes], max_len: int, cursor: int) -> tuple[bytes, int | None]:
    """Items from ``cursor`` on, each followed by a NUL, within ``max_len`` bytes."""
    out = b""
    for index in range(cursor, len(items)):
        item = items[index] + b"\0"
        if len(out) + len(item) > max_len:
            if not out:
                raise registry.error("BufferLen", len(item))
            return out, index
        out += item
    return out, None


def _message(handle: object) -> Message:
    message: Message = handles.emu(handle, (Request, Response))
    return message


def _name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise registry.error("InvalidArgument")
    return name


def get_header_names(self: object, max_len: int, cursor: int) -> tuple[str, int | None]:
    names = [name.lower().encode() for name in _message(self)._headers.names()]
    data, next_cursor = nul_list(names, max_len, cursor)
    return data.decode("latin-1"), next_cursor


def get_header_value(self: object, name: str, max_len: int) -> bytes | None:
    value = _message(self)._headers.get(_name(name))
    return None if value is None else fit_bytes(value, max_len)


def get_header_values(
    self: object, name: str, max_len: int, cursor: int
) -> tuple[bytes, int | None]:
    return nul_list(_message(self)._headers.get_all(_name(name)), max_len, cursor)


def _edit(action: Any, *args: object) -> None:
    try:
        action(*args)
    except (TypeError, ValueError) as exc:
        raise registry.error("InvalidArgument") from exc


def set_header_values(self: object, name: str, values: bytes) -> None:
    headers = _message(self)._headers
    items = [v for v in bytes(values).split(b"\0")]
    if items and items[-1] == b"":
        items.pop()
    _edit(headers.remove, _name(name))
    for value in items:
        _edit(headers.append, name, value)


def insert_header(self: object, name: str, value: bytes) -> None:
    _edit(_message(self)._headers.set, _name(name), bytes(value))


def append_header(self: object, name: str, value: bytes) -> None:
    _edit(_message(self)._headers.append, _name(name), bytes(value))


def remove_header(self: object, name: str) -> None:
    if not _message(self)._headers.remove(_name(name)):
        raise registry.error("InvalidArgument")  # Viceroy: removing a missing header fails


def get_version(self: object) -> Any:
    version = _message(self).get_version()
    return getattr(registry.wit("http_types").HttpVersion, _VERSIONS.get(version, "HTTP11"))


def set_version(self: object, version: Any) -> None:
    names = {v: k for k, v in _VERSIONS.items()}
    _message(self).set_version(normalize_version(names.get(version.name, "HTTP/1.1")))


def set_framing_headers_mode(self: object, mode: Any) -> None:
    """``manually-from-headers``: the message's own Content-Length/Transfer-Encoding frame
    it when they fit its body (as ``compute_emu.sdk``'s ``FramingHeadersMode``)."""
    manual = getattr(mode, "name", "") == "MANUALLY_FROM_HEADERS"
    _message(self).set_framing_headers_mode(
        FramingHeadersMode.ManuallyFromHeaders if manual else FramingHeadersMode.Automatic
    )


def set_http_keepalive_mode(self: object, mode: Any) -> None:
    """``no-keepalive``: the client connection closes after this response."""
    off = getattr(mode, "name", "") == "NO_KEEPALIVE"
    response_of(self).set_http_keepalive_mode(
        HttpKeepaliveMode.NoKeepalive if off else HttpKeepaliveMode.Automatic
    )


def exit_handle(self: object, *args: object) -> None:
    """``with handle:`` ends here; nothing to release locally."""


for _module, _cls in (("http_req", "Request"), ("http_resp", "Response")):
    for _fn in (
        get_header_names,
        get_header_value,
        get_header_values,
        set_header_values,
        insert_header,
        append_header,
        remove_header,
        get_version,
        set_version,
    ):
        impl(_module, f"{_cls}.{_fn.__name__}")(_fn)
    impl(_module, f"{_cls}.set_framing_headers_mode")(set_framing_headers_mode)
    impl(_module, f"{_cls}.__exit__")(exit_handle)
impl("http_resp", "Response.set_http_keepalive_mode")(set_http_keepalive_mode)


# -- requests ------------------------------------------------------------------------------
def request_of(handle: object) -> Request:
    request: Request = handles.emu(handle, Request)
    return request


@impl("http_req", "Request.new")
def request_new(cls: type) -> Any:
    return handles.new("http_req", "Request", Request("GET", RELATIVE_BASE + "/"))


@impl("http_req", "Request.get_method")
def get_method(self: object, max_len: int) -> str:
    return fit(request_of(self).get_method(), max_len)


@impl("http_req", "Request.set_method")
def set_method(self: object, method: str) -> None:
    try:
        request_of(self).set_method(method)
    except (TypeError, ValueError) as exc:
        raise registry.error("HttpInvalid") from exc


@impl("http_req", "Request.get_uri")
def get_uri(self: object, max_len: int) -> str:
    request = request_of(self)
    uri = getattr(request, "_wit_relative", None) or request.get_url_str()
    return fit(uri, max_len)


@impl("http_req", "Request.set_uri")
def set_uri(self: object, uri: str) -> None:
    request = request_of(self)
    relative = isinstance(uri, str) and uri.startswith("/")
    try:
        request.set_url(parse_url(RELATIVE_BASE + uri if relative else uri))
    except (TypeError, ValueError) as exc:
        raise registry.error("HttpInvalid") from exc
    request._wit_relative = uri if relative else None  # type: ignore[attr-defined]


@impl("http_req", "Request.set_cache_override")
def set_cache_override(self: object, cache_override: Any) -> None:
    request = request_of(self)
    kind = type(cache_override).__name__
    if kind.endswith("_Pass"):
        request.set_pass(True)
    elif kind.endswith("_Override"):
        details = cache_override.value
        if details.ttl is not None:
            request.set_ttl(details.ttl)
        if details.stale_while_revalidate is not None:
            request.set_stale_while_revalidate(details.stale_while_revalidate)
        request.set_pci(bool(details.pci))
        if details.surrogate_key is not None:
            request.set_surrogate_key(details.surrogate_key)


@impl("http_req", "Request.set_auto_decompress_response")
def set_auto_decompress_response(self: object, encodings: Any) -> None:
    gzip = registry.wit("http_types").ContentEncodings.GZIP
    request_of(self).set_auto_decompress_gzip(bool(encodings & gzip))


@impl("http_req", "close")
def request_close(request: object) -> None:
    handles.emu(request, Request)


# -- responses -----------------------------------------------------------------------------
def response_of(handle: object) -> Response:
    response: Response = handles.emu(handle, Response)
    return response


@impl("http_resp", "Response.new")
def response_new(cls: type) -> Any:
    return handles.new("http_resp", "Response", Response())


@impl("http_resp", "Response.get_status")
def get_status(self: object) -> int:
    return response_of(self).get_status()


@impl("http_resp", "Response.set_status")
def set_status(self: object, status: int) -> None:
    try:
        response_of(self).set_status(status)
    except (TypeError, ValueError) as exc:
        raise registry.error("HttpInvalidStatus") from exc


@impl("http_resp", "Response.get_remote_ip_addr")
def get_remote_ip_addr(self: object) -> None:
    """Not recorded locally (Viceroy answers none for responses it did not receive)."""
    response_of(self)


@impl("http_resp", "Response.get_remote_port")
def get_remote_port(self: object) -> None:
    response_of(self)


@impl("http_resp", "close")
def response_close(response: object) -> None:
    handles.emu(response, Response)
