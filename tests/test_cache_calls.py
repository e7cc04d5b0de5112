"""The native host's Core cache calls (``runtime/cache_calls.py``): lookups, inserts,
transactions, purges, as values, over a real CacheStore on an event loop of their own (no
server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from compute_emu.cache.store import CacheStore
from compute_emu.platform import Platform
from compute_emu.sdk._host import bind_host
from compute_emu.sdk._interface import CachedObject, CacheState, CacheWrite, Handle, HostError
from compute_emu.sdk.cache import core
from tests.platform_support import LoopThread, PlatformHost, Services

MISS = CacheState(found=False, usable=False, stale=False, must_insert_or_update=False)
FRESH = CacheState(found=True, usable=True, stale=False, must_insert_or_update=False)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def host(loop: LoopThread) -> PlatformHost:
    return PlatformHost(Services(Platform.empty(), loop, CacheStore(capacity=8000)))


def read_all(host: PlatformHost, lookup: Handle, start: int = 0, end: int | None = None) -> bytes:
    stream = host.cache_body(lookup, start, end)
    chunks = []
    while chunk := stream.read_chunk():
        chunks.append(chunk)
    return b"".join(chunks)


def put(host: PlatformHost, key: bytes, body: bytes, options: CacheWrite) -> None:
    sink = host.cache_insert(key, options)
    sink.write(body)
    sink.finish()
    assert sink.finished


def test_lookup_of_nothing(host: PlatformHost) -> None:
    lookup = host.cache_lookup(b"k", (), False)
    assert host.cache_state(lookup) == MISS
    assert host.cache_object(lookup) is None
    with pytest.raises(HostError) as info:
        host.cache_body(lookup, 0, None)
    assert info.value.kind == "invalid_argument"
    host.cache_close(lookup)


def test_insert_then_lookup_as_values(host: PlatformHost) -> None:
    options = CacheWrite(
        ttl=30,
        surrogate_keys=("b", "a"),
        user_metadata=b"meta",
        stale_while_revalidate=5,
    )
    sink = host.cache_insert(b"k", options)
    early = host.cache_lookup(b"k", (), False)
    early_object = host.cache_object(early)
    assert early_object is not None and early_object.length is None  # still being written
    sink.write(b"hello ")
    sink.write(b"world")
    sink.finish()
    assert host.cache_object(early).length == 11  # type: ignore[union-attr]
    host.services.cache.advance(5)
    lookup = host.cache_lookup(b"k", (), False)
    assert host.cache_state(lookup) == FRESH
    assert host.cache_object(lookup) == CachedObject(
        age=pytest.approx(5, abs=0.5),  # type: ignore[arg-type]
        max_age=30,
        stale_while_revalidate=5,
        hits=2,
        length=11,
        user_metadata=b"meta",
        surrogate_keys=("a", "b"),
        vary=(),
        sensitive=False,
    )
    assert read_all(host, lookup) == b"hello world"
    assert read_all(host, lookup, 1, 4) == b"ell"
    assert read_all(host, lookup, 4, 9) == b"o wor"  # across the two chunks
    assert read_all(host, lookup, 20) == b""
    assert read_all(host, lookup, 3, 3) == b""


def test_a_body_over_the_object_size_is_abandoned(host: PlatformHost) -> None:
    sink = host.cache_insert(b"big", CacheWrite(ttl=30))
    lookup = host.cache_lookup(b"big", (), False)
    stream = host.cache_body(lookup, 0, None)
    sink.write(b"x" * (host.services.cache.max_object + 1))
    with pytest.raises(HostError) as info:
        stream.read_chunk()
    assert info.value.kind == "unexpected" and "abandoned" in str(info.value)
    assert host.cache_state(host.cache_lookup(b"big", (), False)) == MISS


def test_vary(host: PlatformHost) -> None:
    french = CacheWrite(ttl=30, vary=("x-lang",), request_headers=(("x-lang", b"fr"),))
    put(host, b"v", b"bonjour", french)
    found = host.cache_lookup(b"v", (("x-lang", b"fr"),), False)
    assert read_all(host, found) == b"bonjour"
    assert host.cache_object(found).vary == ("x-lang",)  # type: ignore[union-attr]
    assert host.cache_state(host.cache_lookup(b"v", (("x-lang", b"de"),), False)) == MISS


def in_thread(call: object) -> tuple[threading.Thread, list[Handle]]:
    """Start ``call()`` on a thread; its result lands in the list."""
    assert callable(call)
    out: list[Handle] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def test_a_transaction_collapses_misses_and_streams_back(host: PlatformHost) -> None:
    first = host.cache_lookup(b"t", (), True)
    assert host.cache_state(first) == CacheState(False, False, False, must_insert_or_update=True)
    assert host.services.cache.obligation(b"t") is not None
    thread, second = in_thread(lambda: host.cache_lookup(b"t", (), True))
    sink, back = host.cache_transaction_insert(first, CacheWrite(ttl=30), stream_back=True)
    assert back is not None and host.cache_state(back) == FRESH
    assert host.cache_object(back).age == 0  # type: ignore[union-attr]
    sink.write(b"fetched")
    sink.finish()
    thread.join(10)
    assert host.cache_state(second[0]) == FRESH  # it waited for the insert, then found it
    assert read_all(host, second[0]) == read_all(host, back) == b"fetched"
    with pytest.raises(HostError) as info:  # the obligation was met
        host.cache_transaction_insert(first, CacheWrite(ttl=30), stream_back=False)
    assert info.value.kind == "invalid_argument" and "no obligation to insert" in str(info.value)


def test_a_cancelled_transaction_hands_the_obligation_on(host: PlatformHost) -> None:
    first = host.cache_lookup(b"c", (), True)
    thread, second = in_thread(lambda: host.cache_lookup(b"c", (), True))
    host.cache_transaction_cancel(first)
    host.cache_transaction_cancel(first)  # nothing left to give up
    thread.join(10)
    assert host.cache_state(second[0]).must_insert_or_update


def test_closing_a_transaction_gives_its_obligation_up_without_waiting(
    host: PlatformHost, loop: LoopThread
) -> None:
    first = host.cache_lookup(b"g", (), True)

    async def close_on_the_loop() -> None:  # as a garbage collection on the loop would
        host.cache_close(first)

    loop.run(close_on_the_loop)
    second = host.cache_lookup(b"g", (), True)
    assert host.cache_state(second).must_insert_or_update
    host.cache_close(second)
    assert host.cache_state(host.cache_lookup(b"g", (), True)).must_insert_or_update


def test_a_transaction_updates_a_stale_object(host: PlatformHost) -> None:
    put(
        host,
        b"u",
        b"body",
        CacheWrite(ttl=1, stale_while_revalidate=60, user_metadata=b"m", surrogate_keys=("keep",)),
    )
    miss = host.cache_lookup(b"none", (), True)
    with pytest.raises(HostError) as info:
        host.cache_transaction_update(miss, CacheWrite(ttl=30))
    assert "found a stale object" in str(info.value)
    host.cache_close(miss)
    host.services.cache.advance(2)
    tx = host.cache_lookup(b"u", (), True)
    assert host.cache_state(tx) == CacheState(True, True, True, must_insert_or_update=True)
    host.cache_transaction_update(tx, CacheWrite(ttl=30))
    found = host.cache_lookup(b"u", (), False)
    assert host.cache_state(found) == FRESH
    facts = host.cache_object(found)
    assert facts is not None and (facts.surrogate_keys, facts.user_metadata) == (("keep",), b"m")
    assert read_all(host, found) == b"body"


def test_purges(host: PlatformHost) -> None:
    put(host, b"p", b"x", CacheWrite(ttl=30, stale_while_revalidate=60, surrogate_keys=("g",)))
    host.purge_surrogate_key("g", soft=True)
    soft = host.cache_state(host.cache_lookup(b"p", (), False))
    assert soft == CacheState(True, True, True, False)
    host.purge_surrogate_key("g", soft=False)
    assert host.cache_state(host.cache_lookup(b"p", (), False)) == MISS


def test_a_handle_from_elsewhere_is_refused(host: PlatformHost) -> None:
    with pytest.raises(HostError) as info:
        host.cache_state("not a lookup")
    assert (info.value.kind, str(info.value)) == ("invalid_argument", "not a cache lookup: str")


def test_the_sdk_over_the_native_host_initial_age_counts_against_the_max_age(
    host: PlatformHost,
) -> None:
    with bind_host(host):  # type: ignore[arg-type]
        with core.insert(b"aged", 60).initial_age(10).stale_while_revalidate(30).execute() as body:
            body.write(b"x")
        found = core.lookup(b"aged").execute()
        assert found is not None and found.max_age() == 60 and not found.is_stale()
        assert found.age() == pytest.approx(10, abs=1) and found.remaining_ttl() == pytest.approx(
            50, abs=1
        )
        host.services.cache.advance(51)
        later = core.lookup(b"aged").execute()
        assert later is not None and later.is_stale() and later.remaining_ttl() == 0
        assert later.is_usable()
        assert later.age() == pytest.approx(61, abs=1)
