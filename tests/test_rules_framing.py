"""compute_emu.rules.framing: header hygiene and the framing decisions (no I/O)."""

from __future__ import annotations

import pytest

from compute_emu.rules.framing import (
    CHUNKED,
    NO_BODY,
    Framing,
    FramingError,
    body_headers,
    connection_tokens,
    content_length,
    declared_framing,
    end_to_end,
    header_value,
    raw_headers,
    request_framing,
    response_framing,
)


def test_end_to_end_drops_hop_by_hop_framing_and_connection_tokens():
    headers = [
        ("Connection", b"keep-alive, X-Secret"),
        ("connection", b" Other ,"),
        ("X-Secret", b"1"),
        ("other", b"2"),
        ("Keep-Alive", b"timeout=5"),
        ("TE", b"trailers"),
        ("Content-Length", b"3"),
        ("Transfer-Encoding", b"chunked"),
        ("Upgrade", b"websocket"),
        ("X-Kept", b"yes"),
    ]
    assert connection_tokens(headers) == {"keep-alive", "x-secret", "other"}
    raw = [(n.encode(), v) for n, v in headers]  # the codecs' bytes names: the same answer
    assert connection_tokens(raw) == {"keep-alive", "x-secret", "other"}
    assert connection_tokens([("Connection", b"x-no-close-please")]) == {"x-no-close-please"}
    assert end_to_end(headers) == [("X-Kept", b"yes")]
    kept = end_to_end(headers, keep_upgrade=True)
    assert [n for n, _ in kept] == ["Connection", "connection", "Upgrade", "X-Kept"]


def test_header_value_and_raw_headers():
    headers = [("A", b"1"), ("a", b"2")]
    assert header_value(headers, "a") == b"1" and header_value(headers, "b") is None
    assert raw_headers([("Host", b"h")]) == [(b"Host", b"h")]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([b"0"], 0),
        ([b"12"], 12),
        ([b"5", b"5"], 5),
        ([b"5, 5"], 5),
        ([b" 7 "], 7),
    ],
)
def test_content_length(values, expected):
    assert content_length([("Content-Length", v) for v in values]) == expected


@pytest.mark.parametrize(
    "values",
    [[b"5", b"6"], [b"5, 6"], [b"-1"], [b"+1"], [b"1e3"], [b""], [b"0x10"], [b"9" * 19]],
)
def test_content_length_refused(values):
    with pytest.raises(FramingError):
        content_length([("content-length", v) for v in values])


@pytest.mark.parametrize(
    ("lengths", "codings", "expected"),
    [
        ([], [], None),
        ([b"0"], [], Framing("length", 0)),
        ([b"5, 5"], [], Framing("length", 5)),
        ([b"5", b" 5\t"], [], Framing("length", 5)),
        ([b"007"], [], Framing("length", 7)),
        ([], [b"chunked"], CHUNKED),
        ([], [b" Chunked "], CHUNKED),
        ([], [b"CHUNKED"], CHUNKED),
    ],
)
def test_declared_framing(lengths, codings, expected):
    assert declared_framing(lengths, codings) == expected


@pytest.mark.parametrize(
    ("lengths", "codings", "status"),
    [
        ([b"4"], [b"chunked"], 400),  # RFC 9112 §6.3 item 3
        ([b"5, 05"], [], 400),  # equal as numbers, but not the same value (h11 agrees)
        ([b"5,"], [], 400),
        ([b"5", b"6"], [], 400),
        ([b"9" * 19], [], 400),
        ([b"0x5"], [], 400),
        ([], [b"gzip"], 501),
        ([], [b"gzip, chunked"], 501),
        ([], [b"chunked, "], 501),  # an empty item (h11 and llhttp refuse it too)
        ([], [b"chunked", b"chunked"], 501),
        ([], [b""], 501),
    ],
)
def test_declared_framing_refused(lengths, codings, status):
    with pytest.raises(FramingError) as caught:
        declared_framing(lengths, codings)
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], NO_BODY),
        ([("Content-Length", b"4")], Framing("length", 4)),
        ([("Transfer-Encoding", b"chunked")], CHUNKED),
        ([("transfer-encoding", b"CHUNKED")], CHUNKED),
    ],
)
def test_request_framing(headers, expected):
    assert request_framing(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", b"4"), ("Transfer-Encoding", b"chunked")],
        [("Transfer-Encoding", b"chunked"), ("Content-Length", b"4")],
        [("Transfer-Encoding", b"gzip")],
        [("Transfer-Encoding", b"chunked, gzip")],
        [("Transfer-Encoding", b"gzip, chunked")],
        [("Transfer-Encoding", b"chunked"), ("Transfer-Encoding", b"chunked")],
        [("Transfer-Encoding", b"")],
        [("Content-Length", b"1"), ("Content-Length", b"2")],
    ],
)
def test_unsafe_framing_is_refused_for_requests_and_responses(headers):
    with pytest.raises(FramingError):
        request_framing(headers)
    for status, method in ((200, "GET"), (204, "GET"), (304, "GET"), (200, "HEAD"), (101, "GET")):
        with pytest.raises(FramingError):
            response_framing(status, method, headers)


@pytest.mark.parametrize(
    ("status", "method", "headers", "expected"),
    [
        (200, "GET", [("Content-Length", b"2")], Framing("length", 2)),
        (200, "GET", [("Transfer-Encoding", b"chunked")], CHUNKED),
        (200, "GET", [], Framing("close")),
        (200, "HEAD", [("Content-Length", b"20")], NO_BODY),
        (204, "GET", [], NO_BODY),
        (304, "GET", [("Content-Length", b"20")], NO_BODY),
        (103, "GET", [], NO_BODY),
    ],
)
def test_response_framing(status, method, headers, expected):
    assert response_framing(status, method, headers) == expected


@pytest.mark.parametrize(
    ("method", "length", "expected"),
    [
        ("GET", None, [("transfer-encoding", b"chunked")]),
        ("GET", 0, []),
        ("GET", 3, [("content-length", b"3")]),
        ("POST", 0, [("content-length", b"0")]),
        ("PUT", 0, [("content-length", b"0")]),
        ("PATCH", 0, [("content-length", b"0")]),
        ("DELETE", 0, []),
    ],
)
def test_body_headers(method, length, expected):
    assert body_headers(method, length) == expected
