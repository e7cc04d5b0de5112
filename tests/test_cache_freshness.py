"""The pure HTTP caching rules (compute_emu/cache/freshness.py): each rule, whole inputs and
edge values."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from compute_emu.cache import freshness
from compute_emu.cache.freshness import analyse, directives, seconds
from compute_emu.cache.store import CachedBody, Entry, HttpMeta

NOW = 1_700_000_000.0
DATE = formatdate(NOW, usegmt=True)


def h(**headers: str) -> list[tuple[str, bytes]]:
    return [(name.replace("_", "-").title(), value.encode()) for name, value in headers.items()]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        ("max-age=60", {"max-age": "60"}),
        ("Max-Age=60, PRIVATE", {"max-age": "60", "private": None}),
        ('max-age="60"', {"max-age": "60"}),
        ("max-age=60, max-age=5", {"max-age": "60"}),  # the first wins
        (" , ,no-store,, ", {"no-store": None}),
        ("s-maxage = 30", {"s-maxage": "30"}),
    ],
)
def test_directives(text: str, parsed: dict[str, str | None]) -> None:
    assert directives(text) == parsed


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0.0), ("60", 60.0), ("-1", None), ("1.5", None), ("", None), (None, None)],
)
def test_seconds(text: str | None, value: float | None) -> None:
    assert seconds(text) == value


def test_huge_values_are_clamped() -> None:
    assert seconds("9" * 40) == freshness.MAX_SECONDS


@pytest.mark.parametrize(
    ("headers", "ttl"),
    [
        (h(surrogate_control="max-age=30", cache_control="max-age=5, s-maxage=7"), 30),
        (h(cache_control="max-age=5, s-maxage=7"), 7),
        (h(cache_control="max-age=5"), 5),
        (h(expires=formatdate(NOW + 50, usegmt=True), date=formatdate(NOW, usegmt=True)), 50),
        (h(expires=formatdate(NOW + 50, usegmt=True)), 50),  # no Date: against now
        (h(expires="not a date"), 0),  # invalid Expires: already expired
        (h(expires=formatdate(NOW - 50, usegmt=True)), 0),
        ([], freshness.DEFAULT_TTL),
        (h(cache_control="public"), freshness.DEFAULT_TTL),
        (h(cache_control="max-age=x"), freshness.DEFAULT_TTL),  # unparseable: ignored
        (h(cache_control="max-age=60", age="20"), 40),
        (h(cache_control="max-age=60", age="90"), 0),
    ],
)
def test_ttl_order_of_preference(headers: list[tuple[str, bytes]], ttl: float) -> None:
    verdict = analyse(200, headers, NOW)
    assert verdict.storable
    assert verdict.ttl == pytest.approx(ttl, abs=1)


@pytest.mark.parametrize(
    ("headers", "ttl", "age"),
    [
        # Fastly's Age reference: max-age=30 with Age: 10 is fresh for 20 more seconds
        (h(cache_control="max-age=30", age="10"), 20, 10),
        (h(surrogate_control="max-age=30", age="10"), 20, 10),
        ([*h(age="10")], freshness.DEFAULT_TTL - 10, 10),
        # ... but with Expires-based freshness the object's age starts at 0
        (h(expires=formatdate(NOW + 30, usegmt=True), age="20"), 30, 0),
        (h(expires=formatdate(NOW + 30, usegmt=True), age="50", date=DATE), 30, 0),
        (h(expires=formatdate(NOW - 5, usegmt=True), age="20"), 0, 0),
    ],
)
def test_the_age_counts_against_the_ttl_except_with_expires(
    headers: list[tuple[str, bytes]], ttl: float, age: float
) -> None:
    verdict = analyse(200, headers, NOW)
    assert verdict.ttl == pytest.approx(ttl, abs=1)
    assert verdict.age == age


def test_the_default_ttl_is_fastlys_two_minutes() -> None:
    assert freshness.DEFAULT_TTL == 120


@pytest.mark.parametrize("status", sorted(freshness.CACHEABLE_STATUSES))
def test_cacheable_statuses(status: int) -> None:
    assert analyse(status, [], NOW).storable


@pytest.mark.parametrize("status", [100, 201, 204, 206, 303, 304, 307, 308, 400, 403, 500, 503])
def test_other_statuses_are_not_stored(status: int) -> None:
    verdict = analyse(status, h(cache_control="max-age=60"), NOW)
    assert not verdict.storable and verdict.reason == f"status {status}"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (h(cache_control="private"), "Cache-Control: private"),
        (h(cache_control="max-age=60, no-store"), "Cache-Control: no-store"),
        (
            h(surrogate_control="no-store", cache_control="max-age=60"),
            "Surrogate-Control: no-store",
        ),
        (h(set_cookie="a=1"), "Set-Cookie"),
        (h(vary="Accept, *"), "Vary: *"),
    ],
)
def test_responses_not_stored(headers: list[tuple[str, bytes]], reason: str) -> None:
    verdict = analyse(200, headers, NOW)
    assert not verdict.storable
    assert verdict.reason == reason


@pytest.mark.parametrize(
    ("status", "headers", "record", "ttl"),
    [
        # recorded uncacheable (hit-for-pass) for the TTL the response would have had
        (200, h(cache_control="private"), True, freshness.DEFAULT_TTL),
        (200, h(cache_control="private, max-age=30"), True, 30),
        (200, h(cache_control="no-store", surrogate_control="max-age=60"), True, 60),
        (200, h(surrogate_control="no-store"), True, freshness.DEFAULT_TTL),
        (200, h(set_cookie="a=1", cache_control="max-age=10"), True, 10),
        (404, h(set_cookie="a=1"), True, freshness.DEFAULT_TTL),
        (200, h(cache_control="private, max-age=0"), True, 0),  # a TTL of 0: no record
        # not recorded: the next request for the key fetches for the cache again
        (500, h(cache_control="private"), False, freshness.DEFAULT_TTL),
        (201, h(set_cookie="a=1"), False, freshness.DEFAULT_TTL),
        (200, h(vary="*", set_cookie="a=1"), False, freshness.DEFAULT_TTL),
        (200, h(cache_control="max-age=60"), False, 60),  # stored
    ],
)
def test_what_is_recorded_uncacheable(
    status: int, headers: list[tuple[str, bytes]], record: bool, ttl: float
) -> None:
    verdict = analyse(status, headers, NOW)
    assert verdict.record_uncacheable is record
    assert verdict.ttl == ttl


@pytest.mark.parametrize(
    ("headers", "storable", "ttl"),
    [
        # Surrogate-Control speaks to Fastly: its max-age is the TTL whatever Cache-Control says
        (h(cache_control="no-cache", surrogate_control="max-age=60"), True, 60),
        (h(cache_control="max-age=0", surrogate_control="max-age=60"), True, 60),
        (h(cache_control="no-cache, max-age=0", surrogate_control="max-age=60"), True, 60),
        (h(cache_control="no-cache"), True, freshness.DEFAULT_TTL),  # no-cache: ignored
        (h(cache_control="no-cache, max-age=30"), True, 30),
        # ... but it does not store what Fastly does not store
        (h(cache_control="private", surrogate_control="max-age=60"), False, 60),
        (h(cache_control="no-store", surrogate_control="max-age=60"), False, 60),
        (h(set_cookie="a=1", surrogate_control="max-age=60"), False, 60),
        (h(cache_control="public, max-age=5", surrogate_control="max-age=60"), True, 60),
        (h(cache_control="max-age=60", surrogate_control="no-store"), False, 60),
    ],
)
def test_surrogate_control_gives_the_ttl_not_the_storability(
    headers: list[tuple[str, bytes]], storable: bool, ttl: float
) -> None:
    verdict = analyse(200, headers, NOW)
    assert verdict.storable is storable
    assert verdict.ttl == ttl


def test_stale_windows_surrogate_control_first() -> None:
    verdict = analyse(
        200,
        h(
            surrogate_control="stale-while-revalidate=10",
            cache_control="stale-while-revalidate=99, stale-if-error=20",
        ),
        NOW,
    )
    assert (verdict.stale_while_revalidate, verdict.stale_if_error) == (10, 20)
    assert analyse(200, [], NOW).stale_while_revalidate == 0


def test_repeated_headers_are_joined() -> None:
    headers = [("Cache-Control", b"public"), ("cache-control", b"max-age=9")]
    assert analyse(200, headers, NOW).ttl == 9


def test_vary_and_surrogate_keys() -> None:
    verdict = analyse(200, h(vary="Origin, accept-encoding,Origin", surrogate_key="a  b c"), NOW)
    assert verdict.vary == ("accept-encoding", "origin")
    assert verdict.surrogate_keys == frozenset({"a", "b", "c"})


def test_the_variant_is_the_request_values_of_the_vary_headers() -> None:
    request = [("Accept-Encoding", b"gzip"), ("Origin", b"a"), ("Origin", b"b")]
    assert freshness.variant(("accept-encoding", "origin"), request) == (
        ("accept-encoding", "gzip"),
        ("origin", "a, b"),
    )
    assert freshness.variant(("x-missing",), request) == (("x-missing", ""),)
    assert freshness.variant((), request) == ()


def test_the_cache_key_is_url_and_host_only() -> None:
    key = freshness.http_cache_key("http://a/x?1", "a")
    assert key == freshness.http_cache_key("http://a/x?1", "a")
    assert key != freshness.http_cache_key("http://a/x?2", "a")
    assert key != freshness.http_cache_key("http://a/x?1", "b")
    assert key.startswith(b"http:")


def test_surrogate_control_is_stripped_for_the_app() -> None:
    headers = h(surrogate_control="max-age=1", cache_control="max-age=2")
    assert freshness.app_headers(headers) == [("Cache-Control", b"max-age=2")]


def test_http_dates() -> None:
    assert freshness.http_date(formatdate(NOW, usegmt=True)) == NOW
    assert freshness.http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777
    for bad in ("", None, "yesterday", "Sun, 99 Nov 1994 08:49:37 GMT"):
        assert freshness.http_date(bad) is None


def test_validators_and_refreshed_headers() -> None:
    stored = h(etag='"v1"', last_modified="Sun, 06 Nov 1994 08:49:37 GMT", content_length="5")
    assert freshness.validators(stored) == [
        ("if-none-match", b'"v1"'),
        ("if-modified-since", b"Sun, 06 Nov 1994 08:49:37 GMT"),
    ]
    assert freshness.validators(h(cache_control="max-age=1")) == []
    merged = freshness.refreshed(
        h(etag='"v1"', cache_control="max-age=1", content_length="5"),
        h(cache_control="max-age=9", content_length="0"),
    )
    assert merged == h(etag='"v1"', content_length="5") + h(cache_control="max-age=9")


# -- the rest of Fastly's documented rules, one table each ----------------------------------
@pytest.mark.parametrize(
    ("headers", "storable", "ttl", "swr", "sie"),
    [
        # Fastly names the Cache-Control directives that influence its caching ("About cache
        # control headers": public, private, max-age, s-maxage, the stale windows; no-cache
        # "is ignored by Fastly"); the others, and Pragma, change nothing here
        (h(cache_control="max-age=10, must-revalidate, stale-while-revalidate=9"), True, 10, 9, 0),
        (h(cache_control="max-age=10, proxy-revalidate, stale-if-error=60"), True, 10, 0, 60),
        (h(cache_control="max-age=10, no-transform, immutable"), True, 10, 0, 0),
        (h(cache_control="public, max-age=10"), True, 10, 0, 0),
        (h(pragma="no-cache"), True, freshness.DEFAULT_TTL, 0, 0),  # Pragma is not read
        (h(pragma="no-cache", cache_control="max-age=10"), True, 10, 0, 0),
        # max-age=0: stored, stale at once (served only within a stale window, or revalidated)
        (h(cache_control="max-age=0"), True, 0, 0, 0),
        (h(cache_control="max-age=0, stale-while-revalidate=30"), True, 0, 30, 0),
        (h(cache_control="s-maxage=0, max-age=60"), True, 0, 0, 0),  # s-maxage first
        (h(cache_control="s-maxage=60, max-age=0"), True, 60, 0, 0),
    ],
)
def test_directives_fastly_does_and_does_not_read(
    headers: list[tuple[str, bytes]], storable: bool, ttl: float, swr: float, sie: float
) -> None:
    verdict = analyse(200, headers, NOW)
    assert verdict.storable is storable
    assert (verdict.ttl, verdict.stale_while_revalidate, verdict.stale_if_error) == (
        ttl,
        swr,
        sie,
    )


@pytest.mark.parametrize(
    ("headers", "later", "age", "ttl_left"),
    [
        # Fastly's Age reference: max-age=30 with Age: 10 -> TTL 20; 8 s later a hit has
        # obj.age 18 and obj.ttl 12
        (h(cache_control="max-age=30", age="10"), 8, 18, 12),
        (h(cache_control="max-age=30"), 8, 8, 22),
        (h(expires=formatdate(NOW + 30, usegmt=True), date=DATE, age="10"), 8, 8, 22),
    ],
)
def test_the_age_a_hit_carries(
    headers: list[tuple[str, bytes]], later: float, age: float, ttl_left: float
) -> None:
    verdict = analyse(200, headers, NOW)
    entry = Entry(
        key=b"k", body=CachedBody(b"x"), stored_at=NOW, max_age=verdict.ttl,
        initial_age=verdict.age, meta=HttpMeta(200, ()),
    )  # fmt: skip
    assert entry.age(NOW + later) == age
    assert entry.expires_at - (NOW + later) == ttl_left
