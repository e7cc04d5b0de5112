"""The readthrough cache (runtime/readthrough.py) without a server: a request's CallScope and
the upstream client are stand-ins (the network answers from a script), so each path runs on
one event loop in this process: MISS then HIT, collapsing, stale-if-error, a HEAD miss,
conditional revalidation."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest

from compute_emu.cache.store import CacheStore
from compute_emu.manifest import BackendConfig
from compute_emu.runtime.bridge import Loop
from compute_emu.runtime.readthrough import CachedCall, HeadView, cached_send
from compute_emu.runtime.send import BackendCall
from compute_emu.sdk import Request
from compute_emu.sdk._interface import CacheOptions, Candidate, OutgoingRequest

T = TypeVar("T")
ORIGIN = BackendConfig("origin", "http://127.0.0.1:9/", "http", "127.0.0.1", 9, "")


class ScriptedResponse:
    """What the upstream client gives back: a head, then the body in chunks."""

    def __init__(self, status: int, headers: list[tuple[str, bytes]], body: list[bytes]) -> None:
        self.status, self.headers, self.http_version = status, headers, "1.1"
        self._chunks = [*body, b""]
        self.closed = False

    async def receive(self, timeout: float | None = None) -> bytes:
        await asyncio.sleep(0)
        return self._chunks.pop(0) if self._chunks else b""

    async def aclose(self) -> None:
        self.closed = True


class ScriptedNetwork:
    """The upstream client: answers each request with the next response for its target."""

    def __init__(self, answers: dict[str, list[ScriptedResponse]]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str]] = []
        self.heads: list[dict[str, bytes]] = []  # each request's headers
        self.gate: asyncio.Event | None = None  # set: heads wait for it

    async def request(self, origin: Any, request: Any, **kwargs: Any) -> ScriptedResponse:
        self.sent.append((request.method, request.target))
        self.heads.append({n.lower(): v for n, v in request.headers})
        if self.gate is not None:
            await self.gate.wait()
        return self.answers[request.target].pop(0)


class Scope:
    """A request's CallScope: tags kept, hooks run inline."""

    def __init__(self, services: Any, request_id: int = 0) -> None:
        self.services = services
        self.request_id = request_id
        self.tags: list[str] = []

    def tag(self, note: int | None, word: str) -> None:
        self.tags.append(word)

    async def run_hook(self, hook: Callable[[T], T], value: T) -> T:
        return hook(value)


def _request(path: str, method: str = "GET", **cache: Any) -> OutgoingRequest:
    return OutgoingRequest(
        method, f"http://origin.test{path}", "HTTP/1.1", (("host", b"origin.test"),),
        cache=CacheOptions(**cache),
    )  # fmt: skip


def _ok(body: bytes, *headers: tuple[str, bytes]) -> ScriptedResponse:
    cc = ("cache-control", b"max-age=60")
    return ScriptedResponse(
        200, [cc, ("content-length", str(len(body)).encode()), *headers], [body]
    )


async def _read(call: BackendCall) -> bytes:
    stream, chunks = call.body_stream(), []
    while chunk := await stream.aread():
        chunks.append(chunk)
    return b"".join(chunks)


def _run(answers: dict[str, list[ScriptedResponse]], test: Callable[..., Any]) -> None:
    async def main() -> None:
        network = ScriptedNetwork(answers)
        clock = [1000.0]
        services = SimpleNamespace(
            readthrough=True, loop=Loop(), pool=network, cache=CacheStore(clock=lambda: clock[0])
        )
        await test(services, network, clock)

    asyncio.run(main())


def test_a_miss_is_stored_as_it_is_read_then_hits() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        first = Scope(services)
        call = await cached_send(first, ORIGIN, _request("/a"), None)
        assert first.tags == ["MISS"] and await _read(call) == b"hello"
        second = Scope(services)
        hit = await cached_send(second, ORIGIN, _request("/a"), None)
        assert isinstance(hit, CachedCall) and second.tags == ["HIT"]
        assert await _read(hit) == b"hello" and ("age", b"0") in hit.headers
        assert network.sent == [("GET", "/a")]

    _run({"/a": [_ok(b"hello")]}, test)


def test_concurrent_misses_collapse_onto_one_fetch_but_never_onto_their_own() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        network.gate = asyncio.Event()
        owner, waiter = Scope(services), Scope(services)
        fetching = asyncio.create_task(cached_send(owner, ORIGIN, _request("/c"), None))
        await asyncio.sleep(0.01)  # the owner's fetch is under way
        waiting = asyncio.create_task(cached_send(waiter, ORIGIN, _request("/c"), None))
        own = asyncio.create_task(cached_send(owner, ORIGIN, _request("/c"), None))
        await asyncio.sleep(0.01)
        network.gate.set()
        assert await _read(await fetching) == b"one"
        assert isinstance(await waiting, CachedCall) and waiter.tags == ["HIT"]
        assert await _read(await own) == b"two" and owner.tags == ["MISS", "MISS"]
        assert network.sent == [("GET", "/c"), ("GET", "/c")]

    _run({"/c": [_ok(b"one"), _ok(b"two")]}, test)


def test_a_backend_error_serves_the_stale_object_within_stale_if_error() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        await _read(await cached_send(Scope(services), ORIGIN, _request("/s"), None))
        services.cache.advance(61)  # stale, within stale-if-error
        scope = Scope(services)
        call = await cached_send(scope, ORIGIN, _request("/s"), None)
        assert isinstance(call, CachedCall) and scope.tags == ["STALE"]
        assert await _read(call) == b"old"
        assert services.cache.obligation(services.cache.entries()[0].key) is None

    sie = ("cache-control", b"max-age=60, stale-if-error=300")
    old = ScriptedResponse(200, [sie, ("content-length", b"3")], [b"old"])
    failing = ScriptedResponse(503, [("content-length", b"0")], [])
    _run({"/s": [old, failing]}, test)


def test_a_head_miss_fetches_the_get_and_stores_it_in_the_background() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        scope = Scope(services)
        head = await cached_send(scope, ORIGIN, _request("/h", "HEAD"), None)
        assert isinstance(head, HeadView) and scope.tags == ["MISS"]
        assert await _read(head) == b"" and head.length == 4
        for _ in range(20):  # the GET's body is read into the cache in the background
            await asyncio.sleep(0)
        get = Scope(services)
        assert await _read(await cached_send(get, ORIGIN, _request("/h"), None)) == b"body"
        assert get.tags == ["HIT"] and network.sent == [("GET", "/h")]

    _run({"/h": [_ok(b"body")]}, test)


def test_a_pass_and_other_methods_skip_the_cache() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        passed, posted = Scope(services), Scope(services)
        await _read(await cached_send(passed, ORIGIN, _request("/p", pass_=True), None))
        await _read(await cached_send(posted, ORIGIN, _request("/p", "POST"), None))
        assert passed.tags == ["PASS"] and posted.tags == []  # never looked up: no tag
        assert services.cache.entries() == []

    _run({"/p": [_ok(b"1"), _ok(b"2")]}, test)


def _not_modified(*headers: tuple[str, bytes]) -> ScriptedResponse:
    return ScriptedResponse(304, [("cache-control", b"max-age=60"), *headers], [])


def test_a_stale_object_with_a_validator_is_revalidated_and_a_304_refreshes_it() -> None:
    seen: list[float] = []

    def after(candidate: Candidate) -> Candidate:  # the after-send hook: it runs on both
        seen.append(candidate.ttl)
        return dataclasses.replace(candidate, ttl=30.0)

    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        request = _request("/r", after_send=after)
        await _read(await cached_send(Scope(services), ORIGIN, request, None))
        services.cache.advance(31)  # stale, past every stale window: kept for its ETag
        scope = Scope(services)
        call = await cached_send(scope, ORIGIN, request, None)
        assert isinstance(call, CachedCall) and scope.tags == ["MISS"]
        assert await _read(call) == b"v1 body" and ("age", b"0") in call.headers
        assert network.heads[1]["if-none-match"] == b'"v1"'
        assert "if-modified-since" not in network.heads[1]
        services.cache.advance(29)  # fresh again: 30 s (the hook's TTL) from the 304
        hit = Scope(services)
        assert await _read(await cached_send(hit, ORIGIN, request, None)) == b"v1 body"
        assert hit.tags == ["HIT"] and seen == [60.0, 60.0] and len(network.sent) == 2

    first = _ok(b"v1 body", ("etag", b'"v1"'))
    _run({"/r": [first, _not_modified(("etag", b'"v1"'))]}, test)


def test_a_revalidation_sends_if_modified_since_and_a_200_replaces_the_object() -> None:
    modified = ("last-modified", b"Sun, 06 Nov 1994 08:49:37 GMT")

    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        await _read(await cached_send(Scope(services), ORIGIN, _request("/m"), None))
        services.cache.advance(61)
        changed = await cached_send(Scope(services), ORIGIN, _request("/m"), None)
        assert await _read(changed) == b"new"
        assert network.heads[1]["if-modified-since"] == modified[1]
        hit = Scope(services)
        assert await _read(await cached_send(hit, ORIGIN, _request("/m"), None)) == b"new"
        assert hit.tags == ["HIT"]

    _run({"/m": [_ok(b"old", modified), _ok(b"new")]}, test)


def test_a_stale_object_without_a_validator_is_fetched_whole() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        await _read(await cached_send(Scope(services), ORIGIN, _request("/w"), None))
        services.cache.advance(61)
        assert services.cache.entries() != []  # still held until the lookup below
        await _read(await cached_send(Scope(services), ORIGIN, _request("/w"), None))
        assert "if-none-match" not in network.heads[1]
        assert "if-modified-since" not in network.heads[1]

    _run({"/w": [_ok(b"a"), _ok(b"b")]}, test)


def _cookie(body: bytes) -> ScriptedResponse:
    return _ok(body, ("set-cookie", b"session=1"))


def test_after_an_uncacheable_response_concurrent_requests_pass_at_once() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        first = Scope(services)
        await _read(await cached_send(first, ORIGIN, _request("/hfp"), None))
        assert first.tags == ["MISS"] and services.cache.entries() == []
        network.gate = asyncio.Event()  # the origin holds every answer
        scopes = [Scope(services) for _ in range(3)]
        sends = [
            asyncio.create_task(cached_send(scope, ORIGIN, _request("/hfp"), None))
            for scope in scopes
        ]
        while len(network.sent) < 4:  # all three reach the origin, none queues behind one
            await asyncio.sleep(0)
        network.gate.set()
        assert [await _read(await send) for send in sends] == [b"2", b"3", b"4"]
        assert [scope.tags for scope in scopes] == [["PASS"]] * 3
        clock[0] += 120  # the record lasts the TTL the response would have had (2 min)
        again = Scope(services)
        await _read(await cached_send(again, ORIGIN, _request("/hfp"), None))
        assert again.tags == ["MISS"]

    no_ttl = [ScriptedResponse(200, [("set-cookie", b"s=1")], [b"%d" % n]) for n in range(1, 6)]
    _run({"/hfp": no_ttl}, test)


def test_set_uncacheable_with_record_passes_the_key_for_the_ttl() -> None:
    def record(candidate: Candidate) -> Candidate:
        return dataclasses.replace(candidate, cacheable=False, record_uncacheable=True, ttl=5.0)

    def plain(candidate: Candidate) -> Candidate:  # set_uncacheable(): nothing recorded
        return dataclasses.replace(candidate, cacheable=False, record_uncacheable=False)

    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        async def get(**cache: Any) -> list[str]:
            scope = Scope(services)
            await _read(await cached_send(scope, ORIGIN, _request("/r", **cache), None))
            return scope.tags

        assert await get(after_send=record) == ["MISS"]
        assert await get() == ["PASS"]  # recorded for the hook's 5 s
        clock[0] += 5
        assert await get(after_send=plain) == ["MISS"]  # set_uncacheable(): not recorded
        assert await get() == ["MISS"]

    _run({"/r": [_cookie(b"1"), _ok(b"2"), _cookie(b"3"), _ok(b"4")]}, test)


@pytest.mark.parametrize(
    ("hook", "given", "expected"),
    [
        (lambda c: c.set_uncacheable(True), False, (False, True)),
        (lambda c: c.set_uncacheable(), True, (False, False)),  # the app's word wins
        (lambda c: None, True, (False, True)),  # the rules' record passes through
        (lambda c: c.set_cacheable(), True, (True, True)),  # stored: the record is moot
    ],
)
def test_the_sdks_candidate_carries_record_uncacheable(
    hook: Callable[[Any], None], given: bool, expected: tuple[bool, bool]
) -> None:
    after = Request.get("http://e.com/").with_after_send(hook)._outgoing().cache.after_send
    assert after is not None
    value = Candidate(200, (), False, 60.0, 0.0, 0.0, (), (), False, record_uncacheable=given)
    got = after(value)
    assert (got.cacheable, got.record_uncacheable) == expected


def test_after_an_unrecorded_uncacheable_response_the_waiters_queue_behind_the_next() -> None:
    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        first_gate = network.gate = asyncio.Event()
        scopes = [Scope(services) for _ in range(3)]
        sends = []
        for scope in scopes:  # the first fetches; the other two wait for it
            sends.append(asyncio.create_task(cached_send(scope, ORIGIN, _request("/q"), None)))
            await asyncio.sleep(0.01)
        network.gate = asyncio.Event()  # the next fetch is held
        first_gate.set()  # a 201: not stored, not recorded
        while len(network.sent) < 2:
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        assert len(network.sent) == 2  # one waiter fetches; the other waits for it
        network.gate.set()
        assert [await _read(await send) for send in sends] == [b"1", b"2", b"3"]
        assert [scope.tags for scope in scopes] == [["MISS"]] * 3

    created = [ScriptedResponse(201, [], [b"%d" % n]) for n in (1, 2, 3)]
    _run({"/q": created}, test)


def test_request_cache_directives_do_not_bypass_the_cache() -> None:
    """Fastly reads Cache-Control from responses only (its Cache-Control reference): a
    request's no-cache, max-age=0 or Pragma is the backend's business, not the cache's."""

    async def test(services: Any, network: ScriptedNetwork, clock: list[float]) -> None:
        await _read(await cached_send(Scope(services), ORIGIN, _request("/n"), None))
        for directive in (("cache-control", b"no-cache"), ("cache-control", b"max-age=0"),
                          ("pragma", b"no-cache")):  # fmt: skip
            request = _request("/n")
            request = dataclasses.replace(request, headers=(*request.headers, directive))
            scope = Scope(services)
            assert await _read(await cached_send(scope, ORIGIN, request, None)) == b"a"
            assert scope.tags == ["HIT"]
        assert len(network.sent) == 1

    _run({"/n": [_ok(b"a")]}, test)
