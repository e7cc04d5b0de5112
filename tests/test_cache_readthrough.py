"""The readthrough HTTP cache of send(): each rule against a real origin that counts its hits,
through compute-emu serving in this process (one server and one origin for the module; each
test uses paths of its own). The cache clock is moved on through /.compute-emu/cache-clock."""

from __future__ import annotations

import socket
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cache_rig import Origin, Running, serve_for
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

APP = """
from compute_emu.sdk import Request, Response


def after(ttl, uncacheable, cacheable):
    def hook(candidate):
        if ttl is not None:
            candidate.set_ttl(float(ttl))
        if uncacheable:
            candidate.set_uncacheable()
        if cacheable:
            candidate.set_cacheable()
        candidate.set_header("x-after", "yes")
    return hook


def before(req):
    req.set_header("x-before", "yes")


def main():
    client = Request.from_client()
    req = Request(client.get_method(), "http://origin" + client.get_path()
                  + ("?" + client.get_query_str() if client.get_query_str() else ""))
    for name in ("accept-language",):
        if client.get_header(name) is not None:
            req.set_header(name, client.get_header(name))
    h = client.get_header
    if h("x-pass"):
        req.set_pass(True)
    if h("x-ttl"):
        req.set_ttl(int(h("x-ttl")))
    if h("x-swr"):
        req.set_stale_while_revalidate(int(h("x-swr")))
    if h("x-key"):
        req = req.with_surrogate_key(h("x-key"))
    if h("x-cache-key"):
        req.set_cache_key(h("x-cache-key"))
    if h("x-before"):
        req.set_before_send(before)
    if h("x-after-ttl") or h("x-after-uncacheable") or h("x-after-cacheable"):
        req.set_after_send(after(h("x-after-ttl"), h("x-after-uncacheable"),
                                 h("x-after-cacheable")))
    if h("x-async"):
        resp = req.send_async("origin").wait()
    else:
        resp = req.send(h("x-backend") or "origin")
    resp.set_header("x-saw-surrogate-control", str(resp.get_header("surrogate-control")))
    resp.send_to_client()
"""


@pytest.fixture(scope="module")
def origin(sdk_host: str) -> Iterator[Origin]:  # one per host: its hit counts start at 0
    server = Origin()
    yield server
    server.close()


@pytest.fixture(scope="module")
def emu(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin, sdk_host: str
) -> Iterator[Running]:
    project = tmp_path_factory.mktemp("cache") / "proj"
    (project / "src").mkdir(parents=True)
    (project / "fastly.toml").write_text(
        'manifest_version = 3\nname = "cache"\nlanguage = "python"\n'
        f'[local_server.backends.origin]\nurl = "{origin.url}"\n'
        '[local_server.backends.down]\nurl = "http://127.0.0.1:9"\n'
    )
    (project / "src" / "main.py").write_text(textwrap.dedent(APP))
    yield from serve_for(sdk_host, project)


def wait_for_tags(emu: Running, path: str, count: int) -> list[str]:
    """The cache tags of ``path``'s log lines once there are ``count`` of them."""
    deadline = time.monotonic() + 5
    while len(tags := emu.tags(path)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return tags


def concurrent_gets(emu: Running, url: str, count: int) -> list[str]:
    """The bodies of ``count`` GETs of ``url`` sent at once (threads, a client each)."""
    results: list[str] = []

    def fetch() -> None:
        with httpx.Client(base_url=emu.url, timeout=10) as client:
            results.append(client.get(url).text)

    threads = [threading.Thread(target=fetch) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_a_cacheable_response_is_stored_and_served_with_its_age(
    emu: Running, origin: Origin
) -> None:
    first = emu.get("/stored?cc=max-age%3D60")
    second = emu.get("/stored?cc=max-age%3D60")
    assert first.text == second.text == "/stored #1 lang="
    assert origin.hits["/stored"] == 1
    assert second.headers["age"] == "0"
    assert second.headers["content-length"] == str(len("/stored #1 lang="))
    emu.advance(5)
    assert emu.get("/stored?cc=max-age%3D60").headers["age"] == "5"
    assert wait_for_tags(emu, "/stored?cc=max-age%3D60", 3) == ["MISS", "HIT", "HIT"]


def test_the_ttl_expires(emu: Running, origin: Origin) -> None:
    emu.get("/expiry?cc=max-age%3D10")
    emu.advance(9)
    assert emu.get("/expiry?cc=max-age%3D10").text == "/expiry #1 lang="
    emu.advance(2)
    assert emu.get("/expiry?cc=max-age%3D10").text == "/expiry #2 lang="
    assert origin.hits["/expiry"] == 2


@pytest.mark.parametrize(
    ("path", "ttl_left"),
    [
        ("/ttl-sc?sc=max-age%3D30&cc=max-age%3D5", 30),  # Surrogate-Control first
        ("/ttl-smax?cc=max-age%3D5,s-maxage%3D30", 30),  # then s-maxage
        ("/ttl-age?cc=max-age%3D30&age=20", 10),  # Age counts against it
        ("/ttl-expires?expires=30", 30),  # Expires minus Date
        ("/ttl-expires-age?expires=30&age=20", 30),  # an Expires-based age starts at 0
        ("/ttl-default", 120),  # Fastly's default: 2 minutes
    ],
)
def test_ttl_sources(emu: Running, origin: Origin, path: str, ttl_left: int) -> None:
    name = path.split("?")[0]
    emu.get(path)
    emu.advance(ttl_left - 1)
    assert emu.get(path).text.startswith(f"{name} #1")
    emu.advance(2)
    assert emu.get(path).text.startswith(f"{name} #2")


def test_surrogate_control_is_removed_from_what_the_app_sees(emu: Running) -> None:
    assert emu.get("/sc?sc=max-age%3D60").headers["x-saw-surrogate-control"] == "None"
    hit = emu.get("/sc?sc=max-age%3D60")
    assert hit.headers["x-saw-surrogate-control"] == "None"
    assert "surrogate-control" not in hit.headers


@pytest.mark.parametrize(
    "query",
    [
        "cc=private",
        "cc=no-store",
        "sc=no-store",
        "cookie=1",
        "status=500",
        "status=201",
        "vary=*",
    ],
)
def test_responses_that_are_not_stored(emu: Running, origin: Origin, query: str) -> None:
    path = f"/nostore-{query.replace('=', '-').replace('*', 'star')}"
    for _ in range(2):
        emu.get(f"{path}?{query}")
    assert origin.hits[path] == 2


@pytest.mark.parametrize(
    ("query", "origin_hits"),
    [
        ("cc=no-cache&sc=max-age%3D60", 1),  # browsers revalidate, Fastly caches
        ("cc=max-age%3D0&sc=max-age%3D60", 1),
        ("cc=no-cache", 1),  # no-cache is ignored by Fastly: stored for the default TTL
        ("cc=private&sc=max-age%3D60", 2),  # private is never stored
        ("cc=no-store&sc=max-age%3D60", 2),
        ("cookie=1&sc=max-age%3D60", 2),
    ],
)
def test_surrogate_control_speaks_to_the_edge(
    emu: Running, origin: Origin, query: str, origin_hits: int
) -> None:
    path = "/split-" + query.replace("=", "-").replace("&", "-").replace("%3D", "-")
    for _ in range(2):
        assert emu.get(f"{path}?{query}").headers["x-saw-surrogate-control"] == "None"
    assert origin.hits[path] == origin_hits


@pytest.mark.parametrize("status", [203, 300, 301, 302, 404, 410])
def test_other_cacheable_statuses(emu: Running, origin: Origin, status: int) -> None:
    path = f"/status-{status}"
    for _ in range(2):
        assert emu.get(f"{path}?status={status}").status_code == status
    assert origin.hits[path] == 1


def test_vary_keeps_a_variant_per_request_header_value(emu: Running, origin: Origin) -> None:
    url = "/vary?vary=Accept-Language&cc=max-age%3D60"
    assert emu.get(url, accept_language="fr").text == "/vary #1 lang=fr"
    assert emu.get(url, accept_language="de").text == "/vary #2 lang=de"
    assert emu.get(url, accept_language="fr").text == "/vary #1 lang=fr"
    assert emu.get(url, accept_language="de").text == "/vary #2 lang=de"
    assert origin.hits["/vary"] == 2


def test_pass_and_non_get_requests_go_to_the_backend(emu: Running, origin: Origin) -> None:
    for _ in range(2):
        emu.get("/pass?cc=max-age%3D60", x_pass="1")
    emu.client.post("/post?cc=max-age%3D60", content=b"x")
    emu.client.post("/post?cc=max-age%3D60", content=b"x")
    assert origin.hits["/pass"] == 2
    assert origin.hits["/post"] == 2
    assert wait_for_tags(emu, "/pass?cc=max-age%3D60", 2) == ["PASS", "PASS"]


def test_head_shares_the_get_object(emu: Running, origin: Origin) -> None:
    emu.get("/head?cc=max-age%3D60")
    head = emu.client.head("/head?cc=max-age%3D60")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len("/head #1 lang="))
    assert origin.hits["/head"] == 1


def test_a_head_miss_fills_the_cache_with_the_get(emu: Running, origin: Origin) -> None:
    before = len(origin.requests)
    head = emu.client.head("/head-first?cc=max-age%3D60")
    assert head.status_code == 200 and head.content == b""
    deadline = time.monotonic() + 5
    while emu.get("/head-first?cc=max-age%3D60").text != "/head-first #1 lang=":
        assert time.monotonic() < deadline, "the GET never landed in the cache"
        time.sleep(0.01)
    assert origin.hits["/head-first"] == 1
    assert len(origin.requests) == before + 1


def test_set_ttl_overrides_the_headers(emu: Running, origin: Origin) -> None:
    emu.get("/set-ttl?cc=private", x_ttl="5")
    emu.advance(4)
    emu.get("/set-ttl?cc=private", x_ttl="5")
    assert origin.hits["/set-ttl"] == 2  # the TTL does not override "private"
    emu.get("/set-ttl2?cc=max-age%3D1000", x_ttl="5")
    emu.advance(4)
    emu.get("/set-ttl2?cc=max-age%3D1000", x_ttl="5")
    assert origin.hits["/set-ttl2"] == 1
    emu.advance(2)
    emu.get("/set-ttl2?cc=max-age%3D1000", x_ttl="5")
    assert origin.hits["/set-ttl2"] == 2


def test_cache_key_overrides_url_and_host(emu: Running, origin: Origin) -> None:
    emu.get("/key-a?cc=max-age%3D60", x_cache_key="shared")
    assert emu.get("/key-b?cc=max-age%3D60", x_cache_key="shared").text == "/key-a #1 lang="
    assert origin.hits["/key-b"] == 0


def test_stale_while_revalidate_serves_stale_and_refreshes_once(
    emu: Running, origin: Origin
) -> None:
    url = "/swr?cc=max-age%3D10,stale-while-revalidate%3D30"
    emu.get(url)
    emu.advance(15)
    stale = emu.get(url)
    assert stale.text == "/swr #1 lang="  # served at once, stale
    deadline = time.monotonic() + 5
    while origin.hits["/swr"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert emu.get(url).text == "/swr #2 lang="  # the background refresh landed
    assert origin.hits["/swr"] == 2
    assert wait_for_tags(emu, url, 3) == ["MISS", "STALE", "HIT"]


def test_stale_while_revalidate_revalidates_with_the_etag(emu: Running, origin: Origin) -> None:
    url = "/etag?cc=max-age%3D10,stale-while-revalidate%3D30&etag=v1"
    emu.get(url)
    emu.advance(15)
    assert emu.get(url).text == "/etag #1 lang="  # stale; a conditional refresh starts
    deadline = time.monotonic() + 5
    while origin.hits["/etag"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.05)
    assert origin.requests[-1].get("if-none-match") == '"v1"'
    emu.advance(8)  # fresh again from the 304: 10 s from the refresh
    assert emu.get(url).text == "/etag #1 lang="  # the stored body, kept
    assert origin.hits["/etag"] == 2
    assert wait_for_tags(emu, url, 3) == ["MISS", "STALE", "HIT"]


def test_a_stale_object_with_an_etag_is_revalidated_and_a_304_refreshes_it(
    emu: Running, origin: Origin
) -> None:
    url = "/reval?cc=max-age%3D10&etag=v1"  # no stale window: the lookup waits for the 304
    emu.get(url)
    emu.advance(15)
    refreshed = emu.get(url)
    assert refreshed.text == "/reval #1 lang=" and refreshed.headers["age"] == "0"
    assert origin.requests[-1].get("if-none-match") == '"v1"'
    emu.advance(8)  # fresh again: 10 s from the 304
    assert emu.get(url).text == "/reval #1 lang="
    assert origin.hits["/reval"] == 2
    assert wait_for_tags(emu, url, 3) == ["MISS", "MISS", "HIT"]


def test_the_after_send_hook_runs_on_a_revalidation(
    emu: Running, origin: Origin, sdk_host: str
) -> None:
    if sdk_host == "wit":
        hooks_unsupported(emu, origin, "/reval-hook?cc=max-age%3D10&etag=v1", x_after_ttl="3")
        return
    url = "/reval-hook?cc=max-age%3D10&etag=v1"
    emu.get(url)
    emu.advance(15)
    refreshed = emu.get(url, x_after_ttl="3")  # the hook's TTL and header, on the 304
    assert refreshed.text == "/reval-hook #1 lang=" and refreshed.headers["x-after"] == "yes"
    emu.advance(4)  # past the hook's 3 s: revalidated again
    assert emu.get(url).text == "/reval-hook #1 lang="
    assert origin.hits["/reval-hook"] == 3


def test_stale_if_error_serves_stale_when_the_backend_fails(emu: Running, origin: Origin) -> None:
    url = "/sie?cc=max-age%3D10,stale-if-error%3D60"
    emu.get(url, x_cache_key="sie")
    emu.advance(20)
    served = emu.get(url + "&status=500", x_cache_key="sie")  # same key, the origin fails
    assert served.status_code == 200 and served.text == "/sie #1 lang="
    emu.advance(60)
    assert emu.get(url + "&status=500", x_cache_key="sie").status_code == 500
    assert origin.hits["/sie"] == 3


def test_surrogate_key_purge_and_soft_purge(emu: Running, origin: Origin) -> None:
    url = "/purge?cc=max-age%3D60,stale-while-revalidate%3D60&sk=products+p1"
    emu.get(url)
    assert emu.admin("purge?key=p1").json() == {"purged": 1}
    assert emu.log.wait("cache: purged 1 object (p1)")
    emu.get(url)
    assert origin.hits["/purge"] == 2
    assert emu.admin("purge?key=products&soft=1").json() == {"purged": 1}
    assert emu.get(url).text == "/purge #2 lang="  # stale, served while revalidating
    assert wait_for_tags(emu, url, 3) == ["MISS", "MISS", "STALE"]
    # the request's own surrogate key
    emu.get("/purge-req?cc=max-age%3D60", x_key="mine")
    assert emu.admin("purge?key=mine").json() == {"purged": 1}


def hooks_unsupported(emu: Running, origin: Origin, path: str, **headers: str) -> None:
    """On the Wasm host a hook fails the send, naming the calls (Fastly's SDKs run the hooks
    on the http-cache interface, which the Wasm host does not build on): nothing is fetched."""
    r = emu.get(path, **headers)
    assert r.status_code == 500 and "set_before_send()/set_after_send()" in r.text
    assert origin.hits[path.split("?")[0]] == 0


def test_after_send_changes_ttl_cacheability_and_the_response(
    emu: Running, origin: Origin, sdk_host: str
) -> None:
    if sdk_host == "wit":
        hooks_unsupported(emu, origin, "/after?cc=max-age%3D1000", x_after_ttl="3")
        return
    first = emu.get("/after?cc=max-age%3D1000", x_after_ttl="3")
    assert first.headers["x-after"] == "yes"
    assert emu.get("/after?cc=max-age%3D1000").headers["x-after"] == "yes"  # stored as changed
    emu.advance(4)
    emu.get("/after?cc=max-age%3D1000")
    assert origin.hits["/after"] == 2
    for _ in range(2):
        emu.get("/after-un?cc=max-age%3D60", x_after_uncacheable="1")
    assert origin.hits["/after-un"] == 2
    for _ in range(2):
        emu.get("/after-force?cookie=1", x_after_cacheable="1")
    assert origin.hits["/after-force"] == 1


def test_before_send_runs_on_a_miss_only(emu: Running, origin: Origin, sdk_host: str) -> None:
    if sdk_host == "wit":
        hooks_unsupported(emu, origin, "/before?cc=max-age%3D60", x_before="1")
        return
    before = len(origin.requests)
    emu.get("/before?cc=max-age%3D60", x_before="1")
    emu.get("/before?cc=max-age%3D60", x_before="1")
    sent = origin.requests[before:]
    assert [r.get("x-before") for r in sent] == ["yes"]


def test_twenty_concurrent_misses_make_one_backend_fetch(emu: Running, origin: Origin) -> None:
    url = "/collapse?cc=max-age%3D60&slow=0.3"
    assert concurrent_gets(emu, url, 20) == ["/collapse #1 lang="] * 20
    assert origin.hits["/collapse"] == 1


@pytest.mark.parametrize("query", ["cc=private", "cookie=1"])
def test_after_an_uncacheable_response_concurrent_requests_go_straight_to_the_origin(
    emu: Running, origin: Origin, query: str
) -> None:
    path = "/hfp-" + query.replace("=", "-")
    url = f"{path}?{query}&slow=0.6"
    emu.get(url)  # uncacheable: recorded so (hit-for-pass) for 2 minutes
    results = concurrent_gets(emu, url, 3)
    assert sorted(results) == [f"{path} #{n} lang=" for n in (2, 3, 4)]
    assert origin.most_in_flight[path] == 3  # all three at once, none queued behind one
    assert wait_for_tags(emu, url, 4) == ["MISS", "PASS", "PASS", "PASS"]
    emu.advance(120)  # the record is over: the key is looked up and collapsed again
    emu.get(url)
    assert wait_for_tags(emu, url, 5)[-1] == "MISS"


def test_send_async_goes_through_the_cache(emu: Running, origin: Origin) -> None:
    for _ in range(2):
        emu.get("/async?cc=max-age%3D60", x_async="1")
    assert origin.hits["/async"] == 1
    assert wait_for_tags(emu, "/async?cc=max-age%3D60", 2) == ["MISS", "HIT"]


def test_the_body_reaches_the_client_before_the_origin_finishes(
    emu: Running, origin: Origin
) -> None:
    url = "/stream?cc=max-age%3D60&gate=stream"
    with emu.client.stream("GET", url) as response:
        chunks = response.iter_bytes()
        assert next(chunks).startswith(b"first;")  # the origin is still held at its gate
        origin.release("stream")
        rest = b"".join(chunks)
    assert rest.endswith(b"/stream #1 lang=")
    assert emu.get(url).text == "first;/stream #1 lang="  # complete: now a hit
    assert origin.hits["/stream"] == 1


def test_a_body_cut_off_is_not_stored(emu: Running, origin: Origin) -> None:
    url = "/partial?cc=max-age%3D60&abort=1"
    for _ in range(2):
        with pytest.raises(httpx.HTTPError):
            emu.get(url).read()
    assert origin.hits["/partial"] == 2


def test_purge_endpoint_refuses_browsers(emu: Running) -> None:
    refused = emu.client.post("/.compute-emu/purge?all=1", headers={"origin": "http://evil"})
    assert refused.status_code == 403
    assert emu.client.get("/.compute-emu/purge?all=1").status_code == 405
    foreign = emu.client.post("/.compute-emu/purge?all=1", headers={"host": "example.com"})
    assert foreign.status_code == 403


def test_no_cache_sends_everything_to_the_backend(
    tmp_path: Path, origin: Origin, sdk_host: str
) -> None:
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "fastly.toml").write_text(
        'manifest_version = 3\nname = "nc"\nlanguage = "python"\n'
        f'[local_server.backends.origin]\nurl = "{origin.url}"\n'
    )
    (project / "src" / "main.py").write_text(textwrap.dedent(APP))
    for running in serve_for(sdk_host, project, no_cache=True):
        for _ in range(2):
            running.get("/no-cache?cc=max-age%3D60")
    assert origin.hits["/no-cache"] == 2


def test_a_failed_miss_is_tagged_and_stores_nothing(emu: Running) -> None:
    for _ in range(2):
        assert emu.get("/down", x_backend="down").status_code == 500
    assert wait_for_tags(emu, "/down", 2) == ["MISS", "MISS"]


def test_waiters_take_over_when_the_fetching_client_leaves(emu: Running, origin: Origin) -> None:
    url = "/leaver?cc=max-age%3D60&slow=0.5"
    host, port = emu.url.removeprefix("http://").split(":")
    leaver = socket.create_connection((host, int(port)), timeout=5)
    leaver.sendall(f"GET {url} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    deadline = time.monotonic() + 5
    while origin.hits["/leaver"] < 1:  # the first fetch is under way
        assert time.monotonic() < deadline
        time.sleep(0.01)
    results: list[str] = []

    def fetch() -> None:
        with httpx.Client(base_url=emu.url, timeout=10) as client:
            results.append(client.get(url).text)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    leaver.close()  # the fetch the others wait for is cancelled with its client
    for t in threads:
        t.join(10)
    assert results == ["/leaver #2 lang="] * 3
    assert origin.hits["/leaver"] == 2
