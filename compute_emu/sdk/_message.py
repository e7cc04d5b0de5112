"""What ``Request`` and ``Response`` share: version, headers and body methods."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode

from ._body import Body
from ._headers import HeaderMap
from ._modes import FramingHeadersMode

_VERSIONS = ("HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0")
_TEXT_PLAIN = "text/plain; charset=utf-8"
_TEXT_HTML = "text/html; charset=utf-8"
_OCTET_STREAM = "application/octet-stream"
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


def normalize_version(version: str) -> str:
    """``"1.1"``, ``"HTTP/1.1"`` -> ``"HTTP/1.1"``; ``"2"``/``"HTTP/2"`` -> ``"HTTP/2.0"``."""
    text = version.strip().upper().removeprefix("HTTP/")
    if "." not in text:
        text += ".0"
    result = f"HTTP/{text}"
    if result not in _VERSIONS:
        raise ValueError(f"unsupported HTTP version {version!r}; expected one of {_VERSIONS}")
    return result


def as_body(body: Body | bytes | bytearray | str) -> Body:
    """``body`` itself if it is a ``Body``, else a new in-memory body."""
    if isinstance(body, Body):
        return body
    if isinstance(body, bytes | bytearray | str):
        return Body(body)
    raise TypeError(f"body must be Body, bytes or str, not {type(body).__name__}")


def _lossy(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


class Message:
    """Base of ``Request`` and ``Response``.

    Internal state the runtime may read or replace: ``_headers`` (a :class:`HeaderMap`),
    ``_body`` (a :class:`Body`) and ``_version`` (``"HTTP/1.1"`` style).

    Header values are bytes on the wire. Where Rust returns a ``HeaderValue``, these methods
    return ``str`` decoded as UTF-8 with invalid bytes replaced; the ``*_str`` variants raise
    ``UnicodeDecodeError`` instead (where Rust panics) and ``get_header_bytes`` gives the bytes.
    """

    _headers: HeaderMap
    _body: Body
    _version: str
    _framing: FramingHeadersMode = FramingHeadersMode.Automatic

    def _init_message(self) -> None:
        self._headers = HeaderMap()
        self._body = Body()
        self._version = "HTTP/1.1"

    # -- framing ---------------------------------------------------------------------------
    def set_framing_headers_mode(self, mode: FramingHeadersMode) -> None:
        """Frame the body from its own ``Content-Length``/``Transfer-Encoding`` headers
        (``ManuallyFromHeaders``) or let compute-emu do it (``Automatic``, the default)."""
        if not isinstance(mode, FramingHeadersMode):
            raise TypeError(f"mode must be a FramingHeadersMode, not {type(mode).__name__}")
        self._framing = mode

    def with_framing_headers_mode(self, mode: FramingHeadersMode) -> Self:
        """Builder form of :meth:`set_framing_headers_mode`."""
        self.set_framing_headers_mode(mode)
        return self

    # -- version -------------------------------------------------------------------------
    def get_version(self) -> str:
        """The HTTP version, e.g. ``"HTTP/1.1"``."""
        return self._version

    def set_version(self, version: str) -> None:
        """Set the HTTP version (``"HTTP/1.1"`` or ``"1.1"``)."""
        self._version = normalize_version(version)

    def with_version(self, version: str) -> Self:
        """Builder form of :meth:`set_version`."""
        self.set_version(version)
        return self

    # -- headers -------------------------------------------------------------------------
    def get_header(self, name: str) -> str | None:
        """First value of header ``name`` (any case) as text, invalid UTF-8 replaced."""
        value = self._headers.get(name)
        return None if value is None else _lossy(value)

    def get_header_str_lossy(self, name: str) -> str | None:
        """Same as :meth:`get_header`."""
        return self.get_header(name)

    def get_header_str(self, name: str) -> str | None:
        """First value as text; raises ``UnicodeDecodeError`` if it is not UTF-8."""
        value = self._headers.get(name)
        return None if value is None else value.decode("utf-8")

    def get_header_bytes(self, name: str) -> bytes | None:
        """First value as raw bytes."""
        return self._headers.get(name)

    def get_header_all(self, name: str) -> list[str]:
        """All values of ``name`` in order, invalid UTF-8 replaced."""
        return [_lossy(value) for value in self._headers.get_all(name)]

    def get_header_all_str(self, name: str) -> list[str]:
        """All values of ``name``; raises ``UnicodeDecodeError`` on non-UTF-8."""
        return [value.decode("utf-8") for value in self._headers.get_all(name)]

    def get_header_names(self) -> list[str]:
        """Distinct header names, lowercased, in order."""
        return [name.lower() for name in self._headers.names()]

    def get_header_names_str(self) -> list[str]:
        """Same as :meth:`get_header_names`."""
        return self.get_header_names()

    def get_headers(self) -> list[tuple[str, str]]:
        """Every ``(lowercased name, value)`` pair in order, invalid UTF-8 replaced."""
        return [(name.lower(), _lossy(value)) for name, value in self._headers.items()]

    def contains_header(self, name: str) -> bool:
        """Whether header ``name`` is present."""
        return self._headers.contains(name)

    def set_header(self, name: str, value: str | bytes) -> None:
        """Replace all values of ``name`` with ``value``."""
        self._headers.set(name, value)

    def append_header(self, name: str, value: str | bytes) -> None:
        """Add a value for ``name``, keeping existing ones."""
        self._headers.append(name, value)

    def remove_header(self, name: str) -> str | None:
        """Remove every value of ``name``; returns the first (lossy text) or ``None``."""
        values = self._headers.remove(name)
        return _lossy(values[0]) if values else None

    def remove_header_str(self, name: str) -> str | None:
        """Like :meth:`remove_header`; raises ``UnicodeDecodeError`` on non-UTF-8."""
        values = self._headers.remove(name)
        return values[0].decode("utf-8") if values else None

    def with_header(self, name: str, value: str | bytes) -> Self:
        """Append a header value and return ``self`` (appends, as in Rust ``fastly`` 0.10+)."""
        self.append_header(name, value)
        return self

    def with_set_header(self, name: str, value: str | bytes) -> Self:
        """Replace all values of ``name`` and return ``self``."""
        self.set_header(name, value)
        return self

    def get_content_type(self) -> str | None:
        """The ``Content-Type`` header, if any."""
        return self.get_header("content-type")

    def set_content_type(self, content_type: str) -> None:
        """Set the ``Content-Type`` header."""
        self.set_header("Content-Type", content_type)

    def with_content_type(self, content_type: str) -> Self:
        """Builder form of :meth:`set_content_type`."""
        self.set_content_type(content_type)
        return self

    def get_content_length(self) -> int | None:
        """The body length when it is known without reading (``None`` while streaming)."""
        return self._body.known_length()

    # -- body ----------------------------------------------------------------------------
    def set_body(self, body: Body | bytes | bytearray | str) -> None:
        """Replace the body."""
        self._body = as_body(body)

    def with_body(self, body: Body | bytes | bytearray | str) -> Self:
        """Builder form of :meth:`set_body`."""
        self.set_body(body)
        return self

    def has_body(self) -> bool:
        """False only when the body is known to be empty (nothing is read)."""
        return not self._body.is_empty()

    def get_body_mut(self) -> Body:
        """The body itself, to write to or read from in place."""
        return self._body

    def take_body(self) -> Body:
        """Take the body out, leaving an empty one."""
        body, self._body = self._body, Body()
        return body

    def try_take_body(self) -> Body | None:
        """Take the body out if there is one (``None`` when it is known to be empty)."""
        return self.take_body() if self.has_body() else None

    def take_body_bytes(self) -> bytes:
        """Take the whole body as bytes."""
        return self.take_body().into_bytes()

    def take_body_str(self) -> str:
        """Take the whole body as UTF-8 text; raises ``UnicodeDecodeError`` if it is not."""
        return self.take_body().into_string()

    def take_body_str_lossy(self) -> str:
        """Take the whole body as text, invalid UTF-8 replaced."""
        return self.take_body().into_string_lossy()

    def take_body_json(self) -> Any:
        """Take the body and parse it as JSON (``json.JSONDecodeError`` if invalid)."""
        return json.loads(self.take_body_bytes())

    # Rust's into_* consume the message; here they take the body, leaving an empty one.
    def into_body(self) -> Body:
        """The body (the message is left with an empty one)."""
        return self.take_body()

    def try_into_body(self) -> Body | None:
        """The body if there is one, else ``None`` (the message is left with an empty one)."""
        return self.try_take_body()

    def into_body_bytes(self) -> bytes:
        """The whole body as bytes."""
        return self.take_body_bytes()

    def into_body_str(self) -> str:
        """The whole body as UTF-8 text; raises ``UnicodeDecodeError`` if it is not."""
        return self.take_body_str()

    def into_body_str_lossy(self) -> str:
        """The whole body as text, invalid UTF-8 replaced."""
        return self.take_body_str_lossy()

    def append_body(self, other: Body | bytes | bytearray | str) -> None:
        """Append to the body (a ``Body`` argument is consumed)."""
        if isinstance(other, bytearray):
            other = bytes(other)
        self._body.append(other)

    def read_body_chunks(self, size: int) -> Iterator[bytes]:
        """Read the body in chunks of at most ``size`` bytes, consuming it."""
        return self._body.read_chunks(size)

    def read_body_lines(self) -> Iterator[str]:
        """Read the body line by line (newline kept), consuming it."""
        return self._body.read_lines()

    def set_body_text_plain(self, text: str) -> None:
        """Set a text body with ``Content-Type: text/plain; charset=utf-8``."""
        self.set_body(text)
        self.set_content_type(_TEXT_PLAIN)

    def with_body_text_plain(self, text: str) -> Self:
        """Builder form of :meth:`set_body_text_plain`."""
        self.set_body_text_plain(text)
        return self

    def set_body_text_html(self, html: str) -> None:
        """Set an HTML body with ``Content-Type: text/html; charset=utf-8``."""
        self.set_body(html)
        self.set_content_type(_TEXT_HTML)

    def with_body_text_html(self, html: str) -> Self:
        """Builder form of :meth:`set_body_text_html`."""
        self.set_body_text_html(html)
        return self

    def set_body_octet_stream(self, data: bytes) -> None:
        """Set a binary body with ``Content-Type: application/octet-stream``."""
        self.set_body(data)
        self.set_content_type(_OCTET_STREAM)

    def with_body_octet_stream(self, data: bytes) -> Self:
        """Builder form of :meth:`set_body_octet_stream`."""
        self.set_body_octet_stream(data)
        return self

    def set_body_json(self, value: Any) -> None:
        """Serialise ``value`` as compact JSON with ``Content-Type: application/json``.

        Raises ``TypeError``/``ValueError`` if it cannot be serialised (Rust returns ``Err``).
        """
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        self.set_body(text)
        self.set_content_type(_JSON)

    def with_body_json(self, value: Any) -> Self:
        """Builder form of :meth:`set_body_json`."""
        self.set_body_json(value)
        return self

    # -- forms -----------------------------------------------------------------------------
    def set_body_form(self, value: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Form-encode ``value`` as the body with ``Content-Type:
        application/x-www-form-urlencoded``."""
        pairs = list(value.items()) if isinstance(value, Mapping) else list(value)
        self.set_body(urlencode(pairs))
        self.set_content_type(_FORM)

    def with_body_form(self, value: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> Self:
        """Builder form of :meth:`set_body_form`."""
        self.set_body_form(value)
        return self

    def take_body_form(self) -> dict[str, str]:
        """Take the body and decode it as a form (the first value wins for repeated names).

        Raises ``UnicodeDecodeError`` if it is not UTF-8 (Rust returns ``Err``)."""
        result: dict[str, str] = {}
        for key, value in parse_qsl(self.take_body_str(), keep_blank_values=True):
            result.setdefault(key, value)
        return result
