"""compute_emu.rules.handoff: what a Fanout or WebSocket handoff sends (no I/O)."""

from __future__ import annotations

import pytest

from compute_emu.manifest.model import BackendConfig
from compute_emu.rules.backend import Destination
from compute_emu.rules.framing import NO_BODY, Framing, FramingError, request_framing
from compute_emu.rules.handoff import (
    PROTECTED,
    fanout_request,
    merge_headers,
    websocket_request,
)

CLIENT = [
    ("Host", b"client.test"),
    ("Pushpin-Route", b"compute-emu-probe-client"),
    ("Connection", b"Upgrade"),
    ("Upgrade", b"websocket"),
    ("Sec-WebSocket-Key", b"k"),
    ("Content-Length", b"4"),
    ("X-Client", b"c"),
]
APP = [
    ("Host", b"app.test"),
    ("Pushpin-Route", b"app-set"),
    ("Upgrade", b"h2c"),
    ("X-App", b"a"),
]


def names(headers: list[tuple[str, bytes]]) -> list[str]:
    return [n.lower() for n, _ in headers]


def test_protected_headers_keep_the_clients_values_but_host_and_route():
    merged = merge_headers(CLIENT, APP, request_framing(CLIENT))
    assert merged == [
        ("Connection", b"Upgrade"),
        ("Upgrade", b"websocket"),
        ("Sec-WebSocket-Key", b"k"),
        ("X-App", b"a"),
        ("content-length", b"4"),
    ]
    assert "x-client" not in names(merged)  # unprotected headers are the app's


@pytest.mark.parametrize(
    ("framing", "normalised"),
    [
        ([("Content-Length", b"5, 5")], [("content-length", b"5")]),
        ([("content-length", b"5"), ("Content-Length", b"5")], [("content-length", b"5")]),
        ([("Content-Length", b"0")], [("content-length", b"0")]),
        ([("Transfer-Encoding", b"Chunked")], [("transfer-encoding", b"chunked")]),
        ([("TRANSFER-ENCODING", b"CHUNKED")], [("transfer-encoding", b"chunked")]),
        ([], []),
    ],
)
def test_the_clients_framing_goes_on_spelt_as_send_spells_it(framing, normalised):
    client = [*framing, ("X", b"1")]
    merged = merge_headers(client, [("Content-Length", b"99")], request_framing(client))
    assert merged == normalised  # the app's framing never goes on either
    assert request_framing(merged) == request_framing(framing)


def test_the_framing_is_the_parsers_decision_not_the_clients_headers_again():
    # the front door refused CL+TE before any app saw it; what goes on is what it decided
    client = [("Content-Length", b"4"), ("Transfer-Encoding", b"chunked")]
    with pytest.raises(FramingError):
        request_framing(client)
    assert merge_headers(client, [], Framing("length", 4)) == [("content-length", b"4")]


def test_fanout_request_has_exactly_one_route_the_apps_backend():
    client = [*CLIENT, ("pushpin-route", b"second"), ("PUSHPIN-ROUTE", b"third")]
    out = fanout_request(
        7677, "origin", "GET", "http://client.test/s?x=1", client, APP, request_framing(client)
    )
    assert out.destination == Destination("127.0.0.1", 7677)
    assert out.target == "/s?x=1"  # no prefix: Pushpin applies it
    assert out.headers[0] == ("Host", b"127.0.0.1:7677")
    routes = [v for n, v in out.headers if n.lower() == "pushpin-route"]
    assert routes == [b"origin"]
    assert names(out.headers).count("host") == 1


def test_websocket_request_goes_to_the_backend_with_its_prefix_and_host():
    backend = BackendConfig(
        name="ws",
        url="https://ws.test:8443/prefix",
        scheme="https",
        host="ws.test",
        port=8443,
        path_prefix="/prefix",
    )
    out = websocket_request(
        backend, "GET", "http://client.test/chat?r=1", CLIENT, APP, request_framing(CLIENT)
    )
    assert out.destination == Destination("ws.test", 8443, tls=True, server_hostname="ws.test")
    assert out.target == "/prefix/chat?r=1"
    assert out.headers[0] == ("Host", b"ws.test:8443")
    assert "pushpin-route" not in names(out.headers)
    overridden = BackendConfig(
        name="ws",
        url="http://10.0.0.1:80/",
        scheme="http",
        host="10.0.0.1",
        port=80,
        path_prefix="/",
        override_host="named.test",
    )
    out = websocket_request(overridden, "GET", "http://c/x", [], [], NO_BODY)
    assert out.headers == [("Host", b"named.test")] and out.target == "/x"


def test_the_protected_list_is_viceroys():
    assert {"host", "pushpin-route", "content-length", "transfer-encoding"} <= PROTECTED
    assert len(PROTECTED) == 16
