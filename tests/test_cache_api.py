"""The Core and Simple cache APIs and http::purge, called from an app served in this process
(the same store as the readthrough cache), and `compute-emu purge` against a real serve."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from compute_emu.runtime.cache_admin import AdvanceClock, PurgeCommand, check_purge
from compute_emu.server.admission import Refusal
from tests.support.cache_rig import Origin, Running, serve_for
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

APP = """
import json
from compute_emu.sdk import Request, Response
from compute_emu.sdk.cache import core, simple
from compute_emu.sdk import purge


def fetch(name):
    return Request.get("http://origin/" + name).with_pass().send("origin").into_body_bytes()


def main():
    req = Request.from_client()
    q = req.get_query()
    path = req.get_path()
    key = q.get("key", "k")
    out = b""
    if path == "/simple/get_or_set":
        out = simple.get_or_set(key, q["v"], 60).into_bytes()
    elif path == "/simple/get":
        body = simple.get(key)
        out = b"<none>" if body is None else body.into_bytes()
    elif path == "/simple/with":
        out = simple.get_or_set_with(key, lambda: simple.CacheEntry(fetch(key), 60)).into_bytes()
    elif path == "/simple/purge":
        simple.purge(key)
    elif path == "/simple/fail":
        def boom():
            raise ValueError("no value")
        try:
            simple.get_or_set_with(key, boom)
        except simple.CacheError as exc:
            out = str(exc).encode()
    elif path == "/core/insert":
        builder = core.insert(key, float(q.get("ttl", "60")))
        builder = builder.surrogate_keys(q.get("sk", "").split()).user_metadata(q.get("meta", ""))
        if "swr" in q:
            builder = builder.stale_while_revalidate(float(q["swr"]))
        if "vary" in q:
            builder = builder.vary_by([q["vary"]]).header(q["vary"], q["vv"])
        with builder.execute() as body:
            body.write(b"value-")
            body.write(q.get("v", "").encode())
    elif path == "/core/lookup":
        builder = core.lookup(key)
        if "vary" in q:
            builder = builder.header(q["vary"], q["vv"])
        found = builder.execute()
        if found is None:
            out = b"null"
        else:
            out = json.dumps({
                "body": found.to_stream().into_string(),
                "range": found.to_stream_from_range(1, 3).into_string(),
                "age": found.age(), "max_age": found.max_age(), "hits": found.hits(),
                "stale": found.is_stale(), "usable": found.is_usable(),
                "length": found.known_length(), "meta": found.user_metadata().decode(),
                "keys": found.surrogate_keys(), "remaining": found.remaining_ttl(),
            }).encode()
    elif path == "/core/tx":
        tx = core.Transaction.lookup(key).execute()
        if tx.must_insert_or_update():
            data = fetch(key)
            writer, found = tx.insert(60).execute_and_stream_back()
            writer.write(data)
            writer.finish()
            out = found.to_stream().into_bytes()
        else:
            out = tx.found().to_stream().into_bytes()
    elif path == "/core/tx-cancel":
        tx = core.Transaction.lookup(key).execute()
        out = str(tx.must_insert()).encode()
        tx.cancel_insert_or_update()
    elif path == "/purge":
        if q.get("soft"):
            purge.soft_purge_surrogate_key(q["sk"])
        else:
            purge.purge_surrogate_key(q["sk"])
    Response.from_body(out).send_to_client()
"""


@pytest.fixture(scope="module")
def origin(sdk_host: str) -> Iterator[Origin]:  # one per host: its hit counts start at 0
    server = Origin()
    yield server
    server.close()


def project_dir(tmp_path_factory: pytest.TempPathFactory, origin: Origin) -> object:
    project = tmp_path_factory.mktemp("cache-api") / "proj"
    (project / "src").mkdir(parents=True)
    (project / "fastly.toml").write_text(
        'manifest_version = 3\nname = "cache-api"\nlanguage = "python"\n'
        f'[local_server.backends.origin]\nurl = "{origin.url}"\n'
    )
    (project / "src" / "main.py").write_text(textwrap.dedent(APP))
    return project


@pytest.fixture(scope="module")
def emu(
    tmp_path_factory: pytest.TempPathFactory, origin: Origin, sdk_host: str
) -> Iterator[Running]:
    project = project_dir(tmp_path_factory, origin)
    yield from serve_for(sdk_host, project)  # type: ignore[arg-type]


def concurrently(count: int, call: Callable[[], str]) -> list[str]:
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_simple_get_or_set_get_and_purge(emu: Running) -> None:
    assert emu.get("/simple/get?key=s1").text == "<none>"
    assert emu.get("/simple/get_or_set?key=s1&v=one").text == "one"
    assert emu.get("/simple/get_or_set?key=s1&v=two").text == "one"  # already set
    assert emu.get("/simple/get?key=s1").text == "one"
    emu.get("/simple/purge?key=s1")
    assert emu.get("/simple/get?key=s1").text == "<none>"


def test_simple_entries_expire(emu: Running) -> None:
    emu.get("/simple/get_or_set?key=s2&v=one")
    emu.advance(61)
    assert emu.get("/simple/get?key=s2").text == "<none>"


def test_simple_get_or_set_with_runs_the_closure_once_for_concurrent_callers(
    emu: Running, origin: Origin
) -> None:
    url = "/simple/with?key=slow-simple%3Fslow%3D0.3"
    results = concurrently(10, lambda: emu.get(url).text)
    assert results == ["/slow-simple #1 lang="] * 10
    assert origin.hits["/slow-simple"] == 1


def test_simple_closure_errors_release_the_key(emu: Running) -> None:
    assert "no value" in emu.get("/simple/fail?key=s3").text
    assert emu.get("/simple/get_or_set?key=s3&v=after").text == "after"


def test_core_insert_lookup_and_found_getters(emu: Running, sdk_host: str) -> None:
    assert emu.get("/core/lookup?key=c1").text == "null"
    emu.get("/core/insert?key=c1&ttl=30&sk=k1+k2&meta=hello&v=abc")
    emu.advance(5)
    found = emu.get("/core/lookup?key=c1").json()
    assert found["body"] == "value-abc" and found["range"] == "alu"
    assert found["age"] == pytest.approx(5, abs=0.5) and found["max_age"] == 30
    assert found["remaining"] == pytest.approx(25, abs=0.5)
    assert found["hits"] == 1 and not found["stale"] and found["usable"]
    assert found["length"] == 9 and found["meta"] == "hello"
    # the WIT's cache entry has no getter for its surrogate keys
    assert found["keys"] == (["k1", "k2"] if sdk_host == "native" else [])
    assert emu.get("/core/lookup?key=c1").json()["hits"] == 2


def test_core_stale_while_revalidate_is_stale_but_usable(emu: Running) -> None:
    emu.get("/core/insert?key=c2&ttl=10&swr=30")
    emu.advance(15)
    found = emu.get("/core/lookup?key=c2").json()
    assert found["stale"] and found["usable"]


def test_core_vary(emu: Running) -> None:
    emu.get("/core/insert?key=c3&vary=x-lang&vv=fr&v=fr")
    assert emu.get("/core/lookup?key=c3&vary=x-lang&vv=fr").json()["body"] == "value-fr"
    assert emu.get("/core/lookup?key=c3&vary=x-lang&vv=de").text == "null"


def test_core_transactions_collapse_twenty_misses(emu: Running, origin: Origin) -> None:
    url = "/core/tx?key=slow-core%3Fslow%3D0.3"
    results = concurrently(20, lambda: emu.get(url).text)
    assert results == ["/slow-core #1 lang="] * 20
    assert origin.hits["/slow-core"] == 1


def test_a_cancelled_transaction_hands_the_obligation_on(emu: Running) -> None:
    assert emu.get("/core/tx-cancel?key=c4").text == "True"
    assert emu.get("/core/tx-cancel?key=c4").text == "True"  # not stuck waiting


def test_purge_surrogate_key_reaches_core_objects(emu: Running) -> None:
    emu.get("/core/insert?key=c5&sk=group&swr=60")
    emu.get("/purge?sk=group&soft=1")
    found = emu.get("/core/lookup?key=c5").json()
    assert found["stale"] and found["usable"]
    emu.get("/purge?sk=group")
    assert emu.get("/core/lookup?key=c5").text == "null"


@pytest.mark.parametrize(
    ("method", "target", "headers", "peer", "expected"),
    [
        (
            "POST",
            "/.compute-emu/purge?key=a&key=b",
            [("Host", b"localhost:7676")],
            "127.0.0.1",
            PurgeCommand(("a", "b")),
        ),
        (
            "POST",
            "/.compute-emu/purge?all=1&soft=1",
            [("host", b"127.0.0.1")],
            "127.0.0.1",
            PurgeCommand((), True, True),
        ),
        (
            "POST",
            "/.compute-emu/cache-clock?advance=2.5",
            [("host", b"[::1]:1")],
            "::1",
            AdvanceClock(2.5),
        ),
        ("POST", "/.compute-emu/purge?key=a", [("host", b"localhost")], "10.0.0.1", 403),
        ("POST", "/.compute-emu/purge?key=a", [("host", b"example.com")], "127.0.0.1", 403),
        ("POST", "/.compute-emu/purge?key=a", [], "127.0.0.1", 403),
        (
            "POST",
            "/.compute-emu/purge?key=a",
            [("host", b"localhost"), ("Origin", b"http://localhost:7676")],
            "127.0.0.1",
            403,
        ),
        (
            "POST",
            "/.compute-emu/purge?key=a",
            [("host", b"localhost"), ("sec-fetch-site", b"cross-site")],
            "127.0.0.1",
            403,
        ),
        ("GET", "/.compute-emu/purge?key=a", [("host", b"localhost")], "127.0.0.1", 405),
        ("POST", "/.compute-emu/purge", [("host", b"localhost")], "127.0.0.1", 400),
        (
            "POST",
            "/.compute-emu/cache-clock?advance=-1",
            [("host", b"localhost")],
            "127.0.0.1",
            400,
        ),
        ("POST", "/.compute-emu/other", [("host", b"localhost")], "127.0.0.1", 404),
    ],
)
def test_purge_endpoint_rules(
    method: str, target: str, headers: list[tuple[str, bytes]], peer: str, expected: object
) -> None:
    decision = check_purge(method, target, headers, peer)
    if isinstance(expected, int):
        assert isinstance(decision, Refusal) and decision.status == expected
    else:
        assert decision == expected


def test_compute_emu_purge_command(make_project, serve, origin: Origin) -> None:  # type: ignore[no-untyped-def]
    project = make_project(APP, backends={"origin": origin.url})
    served = serve(project)
    client = httpx.Client(base_url=served.url, timeout=10)
    client.get("/core/insert?key=p1&sk=cli")
    addr = served.url.removeprefix("http://")

    def purge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "compute_emu", "purge", "--addr", addr, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    done = purge("cli")
    assert done.returncode == 0 and "purged 1 object (cli)" in done.stdout
    assert client.get("/core/lookup?key=p1").text == "null"
    client.get("/core/insert?key=p2")
    assert "purged 1 object (everything)" in purge("--all").stdout
    assert purge().returncode == 2  # nothing named
    client.close()
    served.stop()
    gone = purge("--all")
    assert gone.returncode == 1 and "is `compute-emu serve` running?" in gone.stderr
