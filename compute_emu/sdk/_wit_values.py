"""What the Wasm host works out from ``fastly:compute`` values alone (no host call): pure rules.

The WIT's conventions, as componentize-py's ``wit_world`` bindings present them, turned into
the values of :mod:`._interface`: NUL-separated name lists, header fields in arrival order,
HTTP versions, IP addresses, the readthrough cache key header, and which
:class:`~._interface.HostError` kind or :class:`~._errors.SendErrorCause` a WIT error value
stands for. WIT values are recognised by their generated class names (``Error_BufferLen``,
``SendErrorDetail_ConnectionRefused``, ``OpenError.NOT_FOUND``), so this module needs no
``wit_world`` and is tested on any Python.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping

from ._errors import SendErrorCause
from ._interface import Headers, HostError, IpAddress

# http-types.http-version <-> the SDK's version strings
VERSIONS = {
    "HTTP09": "HTTP/0.9",
    "HTTP10": "HTTP/1.0",
    "HTTP11": "HTTP/1.1",
    "H2": "HTTP/2.0",
    "H3": "HTTP/3.0",
}
VERSION_NAMES = {text: name for name, text in VERSIONS.items()}
CACHE_KEY_HEADER = "fastly-xqd-cache-key"


def version_name(version: str) -> str:
    """The ``http-version`` member name of ``"HTTP/1.1"``, ``"1.1"``, ``"HTTP/2"``, ...
    (``HTTP11`` for anything unknown: the host frames the message as HTTP/1.1)."""
    text = version.strip().upper().removeprefix("HTTP/")
    if "." not in text:
        text += ".0"
    return VERSION_NAMES.get(f"HTTP/{text}", "HTTP11")


def nul_items(data: bytes | str) -> list[bytes]:
    """The items of a NUL-terminated list (``b"a\\0b\\0"`` -> ``[b"a", b"b"]``)."""
    raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
    items = raw.split(b"\0")
    if items and items[-1] == b"":
        items.pop()
    return items


def arrival_order(
    grouped: Mapping[str, list[bytes]], original_names: Iterable[str] | None
) -> Headers:
    """Header fields in the order they arrived, with the names as they were sent.

    ``grouped`` is what the WIT lists: each (lowercase) name once, with its values in order.
    ``original_names`` are ``downstream-original-header-names``: every field's name as sent,
    in order (``None``: not available). Values are taken from ``grouped`` in that order; the
    fields the original names do not account for follow, grouped.
    """
    left = {name.lower(): list(values) for name, values in grouped.items()}
    fields: list[tuple[str, bytes]] = []
    for name in original_names or ():
        values = left.get(name.lower())
        if values:
            fields.append((name, values.pop(0)))
    for name, values in left.items():
        fields.extend((name, value) for value in values)
    return tuple(fields)


def ip_address(parts: Iterable[int], v4: bool) -> IpAddress:
    """An address from a ``types.ip-address`` payload (4 octets, or 8 16-bit groups)."""
    numbers = list(parts)
    if v4:
        return ipaddress.IPv4Address(bytes(numbers))
    return ipaddress.IPv6Address(b"".join(n.to_bytes(2, "big") for n in numbers))


def ip_parts(ip: IpAddress) -> tuple[bool, tuple[int, ...]]:
    """``(is_v4, payload)`` of a ``types.ip-address`` for ``ip``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return True, tuple(ip.packed)
    packed = ip.packed
    return False, tuple(int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2))


def cache_key_value(key: bytes) -> bytes:
    """The ``fastly-xqd-cache-key`` value for a readthrough cache key: 32 bytes as 64
    upper-case hex digits, as Fastly's SDKs send it; a key of another length is its SHA-256
    first (as the JavaScript and .NET SDKs do with a string key)."""
    digest = key if len(key) == 32 else hashlib.sha256(key).digest()
    return digest.hex().upper().encode()


# -- WIT errors ---------------------------------------------------------------------------------
def _variant(value: object) -> str:
    """The case of a WIT variant or enum value: ``"BufferLen"`` for ``Error_BufferLen(..)``,
    ``"NOT_FOUND"`` for ``OpenError.NOT_FOUND``."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and type(value).__name__ in ("OpenError", "AclError"):
        return name
    return type(value).__name__.rpartition("_")[2]


def buffer_len(value: object) -> int | None:
    """The length a ``max-len`` call asked for (``error.buffer-len``), else ``None``."""
    if type(value).__name__ == "Error_BufferLen":
        needed = getattr(value, "value", None)
        return needed if isinstance(needed, int) else None
    return None


def is_not_found(value: object) -> bool:
    """``open-error.not-found``: the ``*_open`` calls answer ``None`` for it."""
    return type(value).__name__ == "OpenError" and _variant(value) == "NOT_FOUND"


_KINDS = {
    # types.error
    "InvalidArgument": "invalid_argument",
    "Unsupported": "unsupported",
    "LimitExceeded": "limit_exceeded",
    # types.open-error
    "INVALID_SYNTAX": "invalid_argument",
    "RESERVED": "invalid_argument",
    "NAME_TOO_LONG": "too_long",
    "NOT_FOUND": "not_found",
    "UNSUPPORTED": "unsupported",
    "LIMIT_EXCEEDED": "limit_exceeded",
    # kv-store.kv-error
    "BadRequest": "invalid_key",
    "PreconditionFailed": "precondition_failed",
    "PayloadTooLarge": "too_long",
    "TooManyRequests": "limit_exceeded",
    # acl.acl-error
    "TOO_MANY_REQUESTS": "limit_exceeded",
}


def host_error(value: object, call: str) -> HostError:
    """The :class:`HostError` for the WIT error ``value`` of ``call`` (e.g.
    ``"kv-store.lookup"``); a kind the interface has no name for is ``unexpected``."""
    case = _variant(value)
    what = type(value).__name__
    if what in ("OpenError", "AclError"):
        what += f".{case}"
    return HostError(_KINDS.get(case, "unexpected"), f"{call} failed: {what}")


def send_error_cause(detail: object | None) -> SendErrorCause:
    """The cause a ``send-error-detail`` names (``None`` or a case the SDK has no name for:
    ``InternalError``)."""
    if detail is None:
        return SendErrorCause.InternalError
    name = type(detail).__name__.removeprefix("SendErrorDetail_")
    return SendErrorCause.__members__.get(name, SendErrorCause.InternalError)
