"""The Wasm host's pure rules (``compute_emu/sdk/_wit_values.py``): WIT values in, interface
values out, each case whole. WIT values are stood for by classes of the generated names."""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

import pytest

from compute_emu.sdk._errors import SendErrorCause
from compute_emu.sdk._wit_values import (
    arrival_order,
    buffer_len,
    cache_key_value,
    host_error,
    ip_address,
    ip_parts,
    is_not_found,
    nul_items,
    send_error_cause,
    version_name,
)


@dataclass
class Error_BufferLen:  # the names componentize-py generates
    value: int


@dataclass
class Error_InvalidArgument:
    pass


@dataclass
class Error_HttpInvalid:
    pass


@dataclass
class KvError_PreconditionFailed:
    pass


@dataclass
class KvError_BadRequest:
    pass


class OpenError(enum.Enum):
    INVALID_SYNTAX = 0
    NAME_TOO_LONG = 1
    NOT_FOUND = 3


class AclError(enum.Enum):
    TOO_MANY_REQUESTS = 0
    GENERIC_ERROR = 1


@dataclass
class SendErrorDetail_ConnectionRefused:
    pass


@dataclass
class SendErrorDetail_DnsError:
    value: object


@dataclass
class SendErrorDetail_Extra:  # a case the SDK has no cause for
    value: object


@pytest.mark.parametrize(
    ("data", "items"),
    [
        (b"", []),
        (b"a\0", [b"a"]),
        (b"a\0b\0", [b"a", b"b"]),
        ("x-one\0Host\0", [b"x-one", b"Host"]),  # names come as str
        (b"a\0\0", [b"a", b""]),  # an empty value is an item
        (b"tail", [b"tail"]),  # a last item without its NUL
    ],
)
def test_nul_items(data: bytes | str, items: list[bytes]) -> None:
    assert nul_items(data) == items


def test_arrival_order_restores_order_and_spelling() -> None:
    grouped = {"x-b": [b"1", b"3"], "x-a": [b"2"], "host": [b"h"]}
    original = ["Host", "X-B", "X-a", "x-b"]
    assert arrival_order(grouped, original) == (
        ("Host", b"h"),
        ("X-B", b"1"),
        ("X-a", b"2"),
        ("x-b", b"3"),
    )


def test_arrival_order_without_original_names_is_grouped() -> None:
    grouped = {"x-b": [b"1", b"3"], "x-a": [b"2"]}
    assert arrival_order(grouped, None) == (("x-b", b"1"), ("x-b", b"3"), ("x-a", b"2"))


def test_arrival_order_keeps_fields_the_names_miss_and_skips_names_without_fields() -> None:
    grouped = {"a": [b"1", b"2"], "b": [b"3"]}
    assert arrival_order(grouped, ["A", "gone", "A", "A"]) == (
        ("A", b"1"),
        ("A", b"2"),
        ("b", b"3"),
    )


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("HTTP/1.1", "HTTP11"),
        ("1.1", "HTTP11"),
        ("HTTP/1.0", "HTTP10"),
        ("http/0.9", "HTTP09"),
        ("HTTP/2", "H2"),
        ("HTTP/2.0", "H2"),
        ("3", "H3"),
        ("HTTP/4.2", "HTTP11"),  # unknown: framed as HTTP/1.1
    ],
)
def test_version_name(version: str, name: str) -> None:
    assert version_name(version) == name


@pytest.mark.parametrize("text", ["127.0.0.1", "0.0.0.0", "255.1.2.3", "::1", "2001:db8::8:1"])
def test_ip_round_trip(text: str) -> None:
    ip = ipaddress.ip_address(text)
    v4, parts = ip_parts(ip)
    assert v4 == (ip.version == 4) and len(parts) == (4 if v4 else 8)
    assert ip_address(parts, v4) == ip


def test_ip_parts_are_octets_and_groups() -> None:
    assert ip_parts(ipaddress.ip_address("10.1.2.3")) == (True, (10, 1, 2, 3))
    assert ip_parts(ipaddress.ip_address("2001:db8::1")) == (
        False,
        (0x2001, 0xDB8, 0, 0, 0, 0, 0, 1),
    )


def test_cache_key_value() -> None:
    key = bytes(range(32))
    assert cache_key_value(key) == key.hex().upper().encode()  # 32 bytes: as they are
    # another length: its SHA-256 (the JavaScript SDK's value for "meow")
    expected = b"404CDD7BC109C432F8CC2443B45BCFE95980F5107215C645236E577929AC3E52"
    assert cache_key_value(b"meow") == expected


def test_buffer_len_and_not_found() -> None:
    assert buffer_len(Error_BufferLen(300)) == 300
    assert buffer_len(Error_InvalidArgument()) is None
    assert is_not_found(OpenError.NOT_FOUND)
    assert not is_not_found(OpenError.INVALID_SYNTAX)
    assert not is_not_found(Error_InvalidArgument())


@pytest.mark.parametrize(
    ("value", "kind", "detail"),
    [
        (Error_InvalidArgument(), "invalid_argument", "x failed: Error_InvalidArgument"),
        (Error_HttpInvalid(), "unexpected", "x failed: Error_HttpInvalid"),
        (OpenError.NAME_TOO_LONG, "too_long", "x failed: OpenError.NAME_TOO_LONG"),
        (OpenError.INVALID_SYNTAX, "invalid_argument", "x failed: OpenError.INVALID_SYNTAX"),
        (
            KvError_PreconditionFailed(),
            "precondition_failed",
            "x failed: KvError_PreconditionFailed",
        ),
        (KvError_BadRequest(), "invalid_key", "x failed: KvError_BadRequest"),
        (AclError.TOO_MANY_REQUESTS, "limit_exceeded", "x failed: AclError.TOO_MANY_REQUESTS"),
        (AclError.GENERIC_ERROR, "unexpected", "x failed: AclError.GENERIC_ERROR"),
    ],
)
def test_host_error(value: object, kind: str, detail: str) -> None:
    error = host_error(value, "x")
    assert (error.kind, error.detail) == (kind, detail)


def test_send_error_cause() -> None:
    assert send_error_cause(SendErrorDetail_ConnectionRefused()) is (
        SendErrorCause.ConnectionRefused
    )
    assert send_error_cause(SendErrorDetail_DnsError(None)) is SendErrorCause.DnsError
    assert send_error_cause(SendErrorDetail_Extra(None)) is SendErrorCause.InternalError
    assert send_error_cause(None) is SendErrorCause.InternalError
