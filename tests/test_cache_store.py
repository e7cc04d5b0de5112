"""The in-memory cache store (compute_emu/cache/store.py): LRU by bytes, variants, stale
windows, purges, obligations and bodies followed while they are written. A fake clock."""

from __future__ import annotations

import anyio
import click
import pytest

from compute_emu.cache.commands import parse_size
from compute_emu.cache.store import (
    ENTRY_OVERHEAD,
    CacheBodyError,
    CachedBody,
    CacheStore,
    Entry,
    HttpMeta,
)

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def entry(store: CacheStore, key: bytes, data: bytes = b"x", **fields: object) -> Entry:
    return Entry(
        key=key,
        body=CachedBody(data),
        stored_at=store.now(),
        max_age=fields.pop("max_age", 10.0),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


async def test_fresh_then_stale_windows_then_gone() -> None:
    clock = Clock()
    store = CacheStore(clock=clock)
    e = entry(store, b"k", stale_while_revalidate=5.0, stale_if_error=20.0)
    store.insert(e)
    assert store.lookup(b"k") is e and e.is_fresh(store.now())
    clock.t += 10  # exactly max_age: stale
    assert not e.is_fresh(store.now()) and e.within_swr(store.now())
    clock.t += 5
    assert not e.within_swr(store.now()) and e.within_sie(store.now())
    assert store.lookup(b"k") is e  # kept for stale-if-error
    clock.t += 15
    assert store.lookup(b"k") is None and store.bytes == 0


async def test_a_revalidatable_object_is_kept_stale_until_evicted() -> None:
    clock = Clock()
    store = CacheStore(clock=clock)
    e = entry(store, b"k", revalidatable=True)  # it has an ETag or Last-Modified
    store.insert(e)
    clock.t += 3600  # far past its TTL and every stale window
    assert not e.is_fresh(store.now()) and not e.within_sie(store.now())
    assert store.lookup(b"k") is e  # kept, to be revalidated with a conditional request


async def test_advance_moves_the_clock() -> None:
    store = CacheStore(clock=Clock())
    store.insert(entry(store, b"k", max_age=1.0))
    store.advance(1.5)
    assert store.lookup(b"k") is None


async def test_initial_age_counts() -> None:
    store = CacheStore(clock=Clock())
    e = entry(store, b"k", initial_age=4.0)
    assert e.age(store.now()) == 4.0


async def test_lru_eviction_by_bytes() -> None:
    size = 100 + 1 + ENTRY_OVERHEAD  # body + key + overhead
    store = CacheStore(capacity=size * 3 - 1, clock=Clock())
    for key in (b"a", b"b", b"c"):
        store.insert(entry(store, key, b"x" * 100))
    assert store.lookup(b"a") is None  # the oldest went
    assert store.bytes <= store.capacity
    store.lookup(b"b")  # b used: c is now the oldest
    store.insert(entry(store, b"d", b"x" * 100))
    assert store.lookup(b"c") is None and store.lookup(b"b") is not None


async def test_an_object_larger_than_its_share_does_not_fit() -> None:
    store = CacheStore(capacity=8000)
    assert store.fits(1000) and not store.fits(1001)


async def test_an_object_larger_than_the_cache_is_dropped() -> None:
    store = CacheStore(capacity=100)
    store.insert(entry(store, b"k", b"x" * 200))
    assert store.lookup(b"k") is None and store.bytes == 0


async def test_variants_by_vary() -> None:
    store = CacheStore(clock=Clock())
    fr = entry(store, b"k", vary=("accept-language",), variant=(("accept-language", "fr"),))
    de = entry(store, b"k", vary=("accept-language",), variant=(("accept-language", "de"),))
    store.insert(fr)
    store.insert(de)
    assert store.lookup(b"k", [("Accept-Language", b"fr")]) is fr
    assert store.lookup(b"k", [("accept-language", b"de")]) is de
    assert store.lookup(b"k", [("accept-language", b"en")]) is None
    again = entry(store, b"k", vary=("accept-language",), variant=(("accept-language", "fr"),))
    store.insert(again)  # replaces the fr variant only
    assert store.lookup(b"k", [("accept-language", b"fr")]) is again
    assert len(store.entries()) == 2


async def test_purge_and_soft_purge_by_surrogate_key() -> None:
    clock = Clock()
    store = CacheStore(clock=clock)
    a = entry(store, b"a", surrogate_keys=frozenset({"all", "a"}), stale_while_revalidate=60.0)
    b = entry(store, b"b", surrogate_keys=frozenset({"all"}))
    store.insert(a)
    store.insert(b)
    assert store.purge_surrogate_key("a", soft=True) == 1
    assert not a.is_fresh(store.now()) and a.within_swr(store.now())
    assert store.lookup(b"a") is a  # still servable stale
    assert store.purge_surrogate_key("all") == 2
    assert store.entries() == [] and store.bytes == 0
    assert store.purge_surrogate_key("nothing") == 0


async def test_purge_all_and_remove_key() -> None:
    store = CacheStore()
    for key in (b"a", b"b"):
        store.insert(entry(store, key))
    assert store.remove_key(b"a") == 1
    assert store.purge_all() == 1 and store.bytes == 0


async def test_a_body_is_followed_while_it_is_written() -> None:
    body = CachedBody()
    got: list[bytes] = []

    async def reader() -> None:
        index = 0
        while chunk := await body.chunk(index):
            got.append(chunk)
            index += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.sleep(0)
        body.append(b"one")
        await anyio.sleep(0)
        body.append(b"two")
        body.finish()
    assert got == [b"one", b"two"] and body.complete and body.data() == b"onetwo"


async def test_a_failed_body_wakes_its_readers_with_an_error() -> None:
    body = CachedBody()
    body.append(b"part")
    errors: list[Exception] = []

    async def reader() -> None:
        try:
            await body.chunk(1)
        except CacheBodyError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.sleep(0)
        body.fail()
    assert errors and body.chunks == []
    body.append(b"late")  # ignored
    assert body.size == 4 and body.state == "failed"


async def test_a_body_being_written_is_counted_when_complete_and_dropped_if_it_fails() -> None:
    store = CacheStore()
    ok = Entry(key=b"ok", body=CachedBody(), stored_at=store.now(), max_age=10)
    bad = Entry(key=b"bad", body=CachedBody(), stored_at=store.now(), max_age=10)
    store.insert(ok)
    store.insert(bad)
    before = store.bytes
    ok.body.append(b"x" * 50)
    ok.body.finish()
    assert store.bytes == before + 50
    bad.body.fail()
    assert store.lookup(b"bad") is None


async def test_obligations_collapse_and_release() -> None:
    store = CacheStore()
    obligation = store.begin(b"k")
    assert store.obligation(b"k") is obligation
    outcomes: list[str] = []

    async def waiter() -> None:
        outcomes.append(await obligation.wait())

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(waiter)
        await anyio.sleep(0)
        store.end(b"k", obligation, "stored")
        store.end(b"k", obligation, "failed")  # a second end changes nothing
    assert outcomes == ["stored"] * 3
    assert store.obligation(b"k") is None
    with pytest.raises(AssertionError):
        store.begin(b"x")
        store.begin(b"x")


async def test_http_meta_counts_in_the_size() -> None:
    store = CacheStore()
    e = entry(store, b"k", meta=HttpMeta(200, (("content-type", b"text/plain"),)))
    assert e.size == 1 + len("content-type") + len("text/plain") + 1 + ENTRY_OVERHEAD


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256MiB", 256 << 20),
        ("64m", 64 << 20),
        ("1048576", 1 << 20),
        ("1.5KiB", 1536),
        ("2G", 2 << 30),
        ("10b", 10),
        (" 3 MB ", 3 << 20),
    ],
)
async def test_cache_size_option(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "big", "-1M", "5T", "1e3"])
async def test_bad_cache_sizes(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_size(text)
