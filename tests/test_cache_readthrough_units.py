"""The readthrough cache (runtime/readthrough.py) without a server: a request's CallScope and
the upstream client are stand-ins (the network answers from a script), so each path runs on
one event loop in this process: MISS then HIT, collapsing, stale-if-error, a HEAD miss."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar

from compute_emu.cache.store import CacheStore
from compute_emu.manifest import BackendConfig
from compute_emu.runtime.bridge import Loop
from compute_emu.runtime.readthrough import CachedCall, HeadView, cached_send
from compute_emu.runtime.send import BackendCall
from compute_emu.sdk._interface import CacheOptions, OutgoingRequest

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
        self.gate: asyncio.Event | None = None  # set: heads wait for it

    async def request(self, origin: Any, request: Any, **kwargs: Any) -> ScriptedResponse:
        self.sent.append((request.method, request.target))
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
