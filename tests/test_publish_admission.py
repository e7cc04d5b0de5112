"""Which requests compute-emu's publish port admits: the pure rules (Origin, Sec-Fetch-Site,
CORS for the app's own origins) and the headers it passes on."""

from __future__ import annotations

import pytest

from compute_emu.server.admission import HostPolicy, Refusal
from compute_emu.server.publish_admission import (
    Admitted,
    AppOrigins,
    check_publish,
    is_preflight,
    preflight_headers,
    publish_host_policy,
    route_target,
)
from compute_emu.server.publish_port import forward_headers

APP = AppOrigins.build(7676, ["127.0.0.1"])


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Content-Type", b"application/json"), ("User-Agent", b"curl/8.5.0")],
        [("sec-fetch-site", b"none")],
        [("Sec-Fetch-Site", b"same-origin")],
    ],
)
def test_publishers_and_requests_that_say_nothing_are_admitted(headers):
    assert check_publish(headers, APP) == Admitted(None)


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example",
        "null",
        "http://127.0.0.1:8000",  # another local page (a different port)
        "https://127.0.0.1:7676",  # not the app's scheme
        "http://localhost",  # port 80, not the app's
        "http://evil.example:7676",  # the app's port on a name it does not serve
        "http://127.0.0.1:7676/path",  # not a serialized origin
        "",
        "garbage",
    ],
)
def test_any_other_origin_is_refused(origin):
    verdict = check_publish([("Origin", origin.encode())], APP)
    assert isinstance(verdict, Refusal) and verdict.status == 403
    assert "may not publish" in verdict.message


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:7676",
        "http://localhost:7676",
        "HTTP://LocalHost:7676",
        "http://[::1]:7676",
        "http://app.localhost:7676",
        "http://127.0.0.2:7676",
    ],
)
def test_the_apps_own_loopback_origins_are_admitted_with_cors(origin):
    assert check_publish([("origin", origin.encode())], APP) == Admitted(origin)
    assert Admitted(origin).cors


def test_allowed_host_names_count_as_the_apps_but_a_star_does_not():
    app = AppOrigins.build(8080, ["*", "myapp.test", ".dev.test", "0.0.0.0"])
    assert app.contains("http://myapp.test:8080")
    assert app.contains("http://a.dev.test:8080")
    assert app.contains("http://0.0.0.0:8080")
    assert not app.contains("http://evil.example:8080")
    assert not app.contains("http://myapp.test:8081")
    assert AppOrigins.build(80, []).contains("http://localhost")


def test_without_app_origins_every_origin_is_refused():
    assert isinstance(check_publish([("origin", b"http://127.0.0.1:7676")], None), Refusal)


def test_two_origin_headers_are_refused():
    headers = [("origin", b"http://127.0.0.1:7676"), ("origin", b"http://evil.example")]
    assert isinstance(check_publish(headers, APP), Refusal)


@pytest.mark.parametrize("site", [b"cross-site", b"same-site", b"Cross-Site", b"bogus"])
def test_browser_requests_from_other_sites_without_origin_are_refused(site):
    verdict = check_publish([("Sec-Fetch-Site", site)], APP)
    assert isinstance(verdict, Refusal) and verdict.status == 403
    assert "Sec-Fetch-Site" in verdict.message


def test_an_app_origin_passes_whatever_sec_fetch_site_says():
    # a page on http://localhost:7676 publishing to 127.0.0.1:5561 is "cross-site" by the
    # browser's rules (another host), yet it is the app's own page
    headers = [("origin", b"http://localhost:7676"), ("sec-fetch-site", b"cross-site")]
    assert check_publish(headers, APP) == Admitted("http://localhost:7676")


def test_preflight():
    asked = [
        ("Access-Control-Request-Method", b"POST"),
        ("Access-Control-Request-Headers", b"content-type, authorization"),
        ("Access-Control-Request-Private-Network", b"true"),
    ]
    assert is_preflight("OPTIONS", asked)
    assert not is_preflight("OPTIONS", [])
    assert not is_preflight("POST", asked)
    headers = dict(preflight_headers("http://127.0.0.1:7676", asked))
    assert headers["access-control-allow-origin"] == b"http://127.0.0.1:7676"
    assert headers["access-control-allow-headers"] == b"content-type, authorization"
    assert headers["access-control-allow-methods"] == b"POST, GET"
    assert headers["access-control-allow-private-network"] == b"true"
    assert headers["vary"] == b"Origin"


def test_forwarded_headers_drop_hop_by_hop_and_the_token_and_keep_the_rest():
    headers = [
        ("Host", b"127.0.0.1:5561"),
        ("Connection", b"keep-alive, X-Hop"),
        ("X-Hop", b"1"),
        ("Keep-Alive", b"timeout=5"),
        ("Expect", b"100-continue"),
        ("Content-Type", b"application/json"),
        ("Authorization", b"Bearer t"),
        ("Content-Length", b"12"),
        ("X-Custom", b"a"),
        ("X-Custom", b"b"),
    ]
    assert forward_headers(headers, "POST", 9, 12) == [
        ("Host", b"127.0.0.1:5561"),
        ("Content-Type", b"application/json"),
        ("X-Custom", b"a"),
        ("X-Custom", b"b"),
        ("content-length", b"12"),
    ]
    # a chunked body is collected first: it goes on with its length
    chunked = [("Host", b"h"), ("Transfer-Encoding", b"chunked")]
    assert forward_headers(chunked, "POST", 9, 7) == [("Host", b"h"), ("content-length", b"7")]
    # HTTP/1.0 without a Host: one is added (HTTP/1.1 needs it); an empty POST says so
    assert forward_headers([], "POST", 9, None) == [
        ("content-length", b"0"),
        ("host", b"127.0.0.1:9"),
    ]
    assert forward_headers([("Host", b"h")], "GET", 9, None) == [("Host", b"h")]


@pytest.mark.parametrize(
    ("target", "routed"),
    [
        ("/publish/", "/publish/"),  # Pushpin's own API goes on as it is
        ("/publish", "/publish"),
        ("/", "/"),
        ("/recover", "/recover"),
        ("/services/x/publish/", "/services/x/publish/"),
        ("/service/SU1Z0isxPaozGVKXdv0eY/publish/", "/publish/"),  # Fastly's publish API
        ("/service/abc123/publish/?x=1&y", "/publish/?x=1&y"),
        ("/service/0000000000000000000000/publish/", "/publish/"),
    ],
)
def test_fastlys_publish_path_becomes_pushpins(target, routed):
    assert route_target(target) == routed


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("/service/abc/publish", "requires the trailing slash: POST /service/abc/publish/\n"),
        ("/service/abc/publish?x", "requires the trailing slash"),
        ("/service/abc", "A GRIP URL http://HOST:PORT/service/abc is a base"),
        ("/service/abc/", "GRIP publishers append /publish/"),
        ("/service/abc/purge_all", "not the rest of Fastly's API"),
        ("/service/abc/publish/x", "not the rest of Fastly's API"),
        ("/service//publish/", "a Fastly service id is alphanumeric"),
        ("/service/a-b/publish/", "'/service/a-b/publish/': a Fastly service id is alphanumeric"),
        ("/service/a%2Fb/publish/", "alphanumeric"),
    ],
)
def test_other_paths_under_service_are_answered_here(target, fragment):
    verdict = route_target(target)
    assert isinstance(verdict, Refusal) and verdict.status == 404
    assert verdict.message.startswith("Not Found: ") and fragment in verdict.message
    assert verdict.message.endswith("\n") and verdict.message.count("\n") == 1


def test_the_publish_port_also_serves_api_fastly_com_and_nothing_else_new():
    app = HostPolicy.build(["127.0.0.1", "myapp.test"])
    policy = publish_host_policy(app)
    assert policy.permits("api.fastly.com") and not app.permits("api.fastly.com")
    assert policy.permits("myapp.test") and policy.permits("localhost")
    assert not policy.permits("evil.example") and not policy.permits("x.api.fastly.com")
    assert publish_host_policy(HostPolicy.build(["*"])).permits("evil.example")


def test_the_api_token_is_not_passed_on_to_pushpin():
    headers = [
        ("Host", b"api.fastly.com"),
        ("Fastly-Key", b"secret"),
        ("authorization", b"Bearer secret"),
        ("Content-Type", b"application/json"),
    ]
    assert forward_headers(headers, "POST", 5000, 2) == [
        ("Host", b"api.fastly.com"),
        ("Content-Type", b"application/json"),
        ("content-length", b"2"),
    ]
