"""The readthrough cache's decisions (compute_emu/cache/policy.py) as tables: pure functions of
facts, no store, no clock, no I/O. And the fill of one key (cache/store.py: Fill): its obligation
ends exactly once, whatever the block does."""

from __future__ import annotations

import pytest

from compute_emu.cache import policy
from compute_emu.cache.policy import (
    Forward,
    Found,
    Hit,
    Miss,
    ServeStale,
    Storage,
    UnderWay,
    Wait,
)
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
        *[(Found.HIT_FOR_PASS, u, Forward("PASS")) for u in ALL_UNDER_WAY],  # no collapsing
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
        ("uncacheable", None),  # look again: PASS if recorded, else queue behind the next
        (None, Forward("MISS")),  # the wait timed out
    ],
)
def test_after_wait(outcome: str | None, expected: Forward | None) -> None:
    assert policy.after_wait(outcome) == expected


@pytest.mark.parametrize(
    ("stale", "has_validators", "expected"),
    [
        (True, True, True),  # a stale object with an ETag or Last-Modified: If-None-Match...
        (True, False, False),  # without: fetched whole
        (False, False, False),
        (False, True, False),  # nothing stored: nothing to revalidate
    ],
)
def test_conditional(stale: bool, has_validators: bool, expected: bool) -> None:
    assert policy.conditional(stale, has_validators) is expected


@pytest.mark.parametrize(
    ("conditional", "status", "expected"),
    [
        (True, 304, True),  # refreshes the stored object (its TTL, its Age), keeps its body
        (True, 200, False),  # a new object replaces it
        (True, 503, False),
        (False, 304, False),  # a 304 the cache did not ask for is the app's
    ],
)
def test_not_modified(conditional: bool, status: int, expected: bool) -> None:
    assert policy.not_modified(conditional, status) is expected


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


INSERT, NOT, RECORD = Storage.INSERT, Storage.DO_NOT_STORE, Storage.RECORD_UNCACHEABLE


@pytest.mark.parametrize(
    ("cacheable", "record", "length", "expected"),
    [
        (True, False, None, INSERT),  # unknown yet: dropped later if it outgrows one object
        (True, False, 0, INSERT),
        (True, False, 100, INSERT),
        (True, False, 101, NOT),  # too big: served, not stored, not recorded
        (True, True, 10, INSERT),  # set_cacheable() wins over the record
        (False, False, None, NOT),
        (False, False, 10, NOT),
        (False, True, None, RECORD),  # private, no-store, Set-Cookie, set_uncacheable(True)
        (False, True, 101, RECORD),
    ],
)
def test_storage(cacheable: bool, record: bool, length: int | None, expected: Storage) -> None:
    assert policy.storage(cacheable, record, length, max_object=100) is expected


@pytest.mark.parametrize(
    ("cacheable", "record", "status", "expected"),
    [
        (True, False, 200, INSERT),
        (True, False, 404, INSERT),
        (True, False, 500, NOT),  # the stale object stays for stale-if-error
        (True, False, 503, NOT),
        (False, False, 200, NOT),
        (False, True, 200, RECORD),
        (False, True, 503, NOT),
    ],
)
def test_storage_refreshed(cacheable: bool, record: bool, status: int, expected: Storage) -> None:
    assert policy.storage_refreshed(cacheable, record, status) is expected


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


@pytest.mark.parametrize(
    ("entry", "now", "pass_until", "expected"),
    [
        (None, 100.0, 160.0, Found.HIT_FOR_PASS),
        (_entry(10), 100.0, 160.0, Found.HIT_FOR_PASS),  # the record is the newest word
        (None, 159.9, 160.0, Found.HIT_FOR_PASS),
        (None, 160.0, 160.0, Found.NOTHING),  # expired: a MISS again
        (_entry(10), 100.0, None, Found.FRESH),
    ],
)
def test_found_state_with_a_hit_for_pass_record(
    entry: Entry | None, now: float, pass_until: float | None, expected: Found
) -> None:
    assert policy.found_state(entry, now, pass_until) is expected


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


def test_a_body_that_outgrows_one_object_keeps_the_stale_variant() -> None:
    store = _store()  # one object may take 100 bytes
    stale = Entry(key=b"k", body=CachedBody(b"old"), stored_at=50.0, max_age=0,
                  stale_if_error=60, meta=HttpMeta(200, ()))  # fmt: skip
    store.insert(stale)
    entry = Entry(key=b"k", body=CachedBody(), stored_at=0.0, max_age=60, meta=HttpMeta(200, ()))
    with store.fill(b"k") as fill:
        sink = fill.copy_into(entry)
    sink.feed(b"x" * 101)  # past one object: the copy is abandoned
    sink.feed(b"y")  # the rest is still served to the app
    sink.feed(b"")  # the end of the body stores nothing
    assert fill.obligation.outcome == "failed" and entry.body.state == "failed"
    assert store.lookup(b"k") is stale and store.entries() == [stale]


def test_a_fill_that_records_hit_for_pass_ends_uncacheable_and_passes_the_key() -> None:
    clock = [50.0]
    store = CacheStore(capacity=800, clock=lambda: clock[0])
    with store.fill(b"k") as fill:
        fill.pass_for(120)
    assert fill.obligation.outcome == "uncacheable" and store.pass_until(b"k") == 170.0
    clock[0] = 169.9
    assert store.pass_until(b"k") == 170.0
    clock[0] = 170.0
    assert store.pass_until(b"k") is None
    with store.fill(b"k") as fill:
        fill.pass_for(0)  # a TTL of 0: nothing to record
    assert store.pass_until(b"k") is None


def test_a_hit_for_pass_record_ends_with_a_stored_object_or_a_purge() -> None:
    store = _store()
    for end in ("insert", "remove_key", "purge_all"):
        store.record_pass(b"k", 60)
        assert store.pass_until(b"k") == 110.0
        if end == "insert":
            store.insert(_entry(60))
        elif end == "remove_key":
            store.remove_key(b"k")
        else:
            store.purge_all()
        assert store.pass_until(b"k") is None, end
