"""The readthrough cache's decisions (compute_emu/cache/policy.py) as tables: pure functions of
facts, no store, no clock, no I/O. And the fill of one key (cache/store.py: Fill): its obligation
ends exactly once, whatever the block does."""

from __future__ import annotations

import pytest

from compute_emu.cache import policy
from compute_emu.cache.policy import Forward, Found, Hit, Miss, ServeStale, UnderWay, Wait
from compute_emu.cache.store import CachedBody, CacheStore, Entry, HttpMeta


@pytest.mark.parametrize(
    ("method", "pass_", "expected"),
    [
        ("GET", False, None),
        ("HEAD", False, None),
        ("GET", True, Forward("PASS")),
        ("HEAD", True, Forward("PASS")),
        ("POST", False, Forward(None)),  # never looked up: no tag
        ("POST", True, Forward(None)),
        ("get", False, Forward(None)),  # methods are case-sensitive
        ("OPTIONS", False, Forward(None)),
    ],
)
def test_route(method: str, pass_: bool, expected: Forward | None) -> None:
    assert policy.route(method, pass_) == expected


ALL_UNDER_WAY = list(UnderWay)


@pytest.mark.parametrize(
    ("found", "under_way", "expected"),
    [
        *[(Found.FRESH, u, Hit()) for u in ALL_UNDER_WAY],  # a fetch under way changes nothing
        (Found.STALE_WHILE_REVALIDATE, UnderWay.NONE, ServeStale(revalidate=True)),
        (Found.STALE_WHILE_REVALIDATE, UnderWay.OTHERS, ServeStale(revalidate=False)),
        (Found.STALE_WHILE_REVALIDATE, UnderWay.OURS, ServeStale(revalidate=False)),
        (Found.STALE, UnderWay.NONE, Miss()),
        (Found.STALE, UnderWay.OTHERS, Wait()),
        (Found.STALE, UnderWay.OURS, Forward("MISS")),  # never wait for our own fetch
        (Found.NOTHING, UnderWay.NONE, Miss()),
        (Found.NOTHING, UnderWay.OTHERS, Wait()),
        (Found.NOTHING, UnderWay.OURS, Forward("MISS")),
    ],
)
def test_on_lookup(found: Found, under_way: UnderWay, expected: policy.Step) -> None:
    assert policy.on_lookup(found, under_way) == expected


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("stored", None),  # look again: a HIT now
        ("failed", None),  # look again: this request may fetch it itself
        ("uncacheable", Forward("PASS")),
        (None, Forward("MISS")),  # the wait timed out
    ],
)
def test_after_wait(outcome: str | None, expected: Forward | None) -> None:
    assert policy.after_wait(outcome) == expected


@pytest.mark.parametrize(
    ("send_failed", "status", "stale_usable", "expected"),
    [
        (True, None, True, True),
        (True, None, False, False),
        (False, 500, True, True),
        (False, 503, True, True),
        (False, 599, True, True),
        (False, 503, False, False),
        (False, 499, True, False),
        (False, 200, True, False),
        (False, 304, True, False),
    ],
)
def test_serve_stale_on_error(
    send_failed: bool, status: int | None, stale_usable: bool, expected: bool
) -> None:
    assert policy.serve_stale_on_error(send_failed, status, stale_usable) is expected


@pytest.mark.parametrize(
    ("cacheable", "length", "expected"),
    [
        (True, None, True),  # unknown yet: dropped later if it outgrows one object
        (True, 0, True),
        (True, 100, True),
        (True, 101, False),
        (False, None, False),
        (False, 10, False),
    ],
)
def test_keep(cacheable: bool, length: int | None, expected: bool) -> None:
    assert policy.keep(cacheable, length, max_object=100) is expected


@pytest.mark.parametrize(
    ("cacheable", "status", "expected"),
    [
        (True, 200, True),
        (True, 404, True),
        (True, 500, False),
        (True, 503, False),
        (False, 200, False),
    ],
)
def test_keep_refreshed(cacheable: bool, status: int, expected: bool) -> None:
    assert policy.keep_refreshed(cacheable, status) is expected


def _entry(max_age: float, swr: float = 0.0, sie: float = 0.0, meta: bool = True) -> Entry:
    return Entry(
        key=b"k",
        body=CachedBody(b"x"),
        stored_at=100.0,
        max_age=max_age,
        stale_while_revalidate=swr,
        stale_if_error=sie,
        meta=HttpMeta(200, ()) if meta else None,
    )


@pytest.mark.parametrize(
    ("entry", "now", "expected"),
    [
        (None, 100.0, Found.NOTHING),
        (_entry(10, meta=False), 100.0, Found.NOTHING),  # a Core cache object, not HTTP
        (_entry(10), 100.0, Found.FRESH),
        (_entry(10), 109.9, Found.FRESH),
        (_entry(10), 110.0, Found.STALE),  # expires at stored_at + max_age
        (_entry(10, swr=5), 114.9, Found.STALE_WHILE_REVALIDATE),
        (_entry(10, swr=5), 115.0, Found.STALE),
        (_entry(10, sie=60), 150.0, Found.STALE),
        (_entry(0), 100.0, Found.STALE),
    ],
)
def test_found_state(entry: Entry | None, now: float, expected: Found) -> None:
    assert policy.found_state(entry, now) is expected


# -- the fill ---------------------------------------------------------------------------------
def _store() -> CacheStore:
    return CacheStore(capacity=800, clock=lambda: 50.0)


def test_a_fill_that_says_nothing_ends_failed_and_frees_the_key() -> None:
    store = _store()
    with store.fill(b"k", owner="me") as fill:
        assert store.obligation(b"k") is fill.obligation and fill.obligation.owner == "me"
    assert fill.obligation.outcome == "failed" and store.obligation(b"k") is None


def test_a_fill_left_by_an_exception_ends_failed() -> None:
    store = _store()
    with pytest.raises(KeyError), store.fill(b"k") as fill:
        raise KeyError("x")
    assert fill.obligation.outcome == "failed" and store.obligation(b"k") is None


def test_a_fill_ends_once() -> None:
    store = _store()
    with store.fill(b"k") as fill:
        fill.uncacheable()
        fill.failed()  # too late: the first end stands
    assert fill.obligation.outcome == "uncacheable"


def test_a_stored_fill_inserts_and_wakes() -> None:
    store = _store()
    entry = _entry(60)
    with store.fill(b"k") as fill:
        fill.stored(entry)
    assert fill.obligation.outcome == "stored" and entry.stored_at == 50.0
    assert store.lookup(b"k") is entry


def test_a_fill_handed_to_the_body_ends_when_the_body_does() -> None:
    store = _store()
    entry = Entry(key=b"k", body=CachedBody(), stored_at=0.0, max_age=60, meta=HttpMeta(200, ()))
    with store.fill(b"k") as fill:
        sink = fill.copy_into(entry)
    assert not fill.obligation.done.is_set()  # still being copied: waiters wait
    sink.feed(b"ab")
    sink.feed(b"c")
    sink.feed(b"")
    assert fill.obligation.outcome == "stored" and store.lookup(b"k") is entry
    assert entry.body.data() == b"abc" and entry.body.complete


@pytest.mark.parametrize("how", ["abort", "too big"])
def test_a_body_copy_that_fails_stores_nothing(how: str) -> None:
    store = _store()  # one object may take 100 bytes
    entry = Entry(key=b"k", body=CachedBody(), stored_at=0.0, max_age=60, meta=HttpMeta(200, ()))
    with store.fill(b"k") as fill:
        sink = fill.copy_into(entry)
    sink.feed(b"x" * 10)
    if how == "abort":
        sink.abort()
    else:
        sink.feed(b"x" * 100)
    assert fill.obligation.outcome == "failed" and entry.body.state == "failed"
    assert store.lookup(b"k") is None
