"""Edge rate limiting: real counters (a clock the test moves on), and an app's limit tripping
under `compute-emu serve`, with compute_runtime's values seen by the same app."""

from __future__ import annotations

import threading

import httpx
import pytest

from compute_emu.platform.erl import ErlArgumentError, RateLimits, penalty_ttl
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_and_counts_follow_their_windows() -> None:
    clock = Clock()
    limits = RateLimits(clock)
    limits.increment("rc", "a", 30)
    assert limits.rate("rc", "a", 1) == 30
    assert limits.rate("rc", "a", 10) == 3
    assert limits.count("rc", "a", 10) == 30
    clock.now += 5
    limits.increment("rc", "a", 20)
    assert limits.rate("rc", "a", 1) == 20  # the first 30 are out of the 1 s window
    assert limits.count("rc", "a", 10) == 50
    clock.now += 6
    assert limits.count("rc", "a", 10) == 20 and limits.count("rc", "a", 20) == 50
    clock.now += 60
    assert limits.count("rc", "a", 60) == 0
    assert limits.rate("rc", "b", 60) == 0  # an entry never seen
    assert limits.count("other", "a", 10) == 0  # counters are separate


def test_penalty_box_keeps_an_entry_for_whole_minutes() -> None:
    clock = Clock()
    limits = RateLimits(clock)
    limits.penalize("pb", "x", 150)  # truncated to 2 minutes
    assert limits.in_box("pb", "x") and not limits.in_box("pb", "y")
    clock.now += 119
    assert limits.in_box("pb", "x")
    clock.now += 1
    assert not limits.in_box("pb", "x")
    assert penalty_ttl(3600) == 3600
    for bad in (59, 3660):
        with pytest.raises(ErlArgumentError):
            penalty_ttl(bad)


def test_check_rate_trips_then_blocks_until_the_ttl_ends() -> None:
    clock = Clock()
    limits = RateLimits(clock)
    args = ("rc", "pb", "client")
    assert limits.check_rate(*args, 50, 10, 9, 60) is False  # 5/s
    assert limits.check_rate(*args, 50, 10, 9, 60) is True  # 10/s > 9
    assert limits.in_box("pb", "client")
    clock.now += 30
    assert limits.check_rate(*args, 0, 10, 9, 60) is True  # still in the box
    clock.now += 31
    assert limits.check_rate(*args, 1, 10, 9, 60) is False  # out, and the window moved on
    with pytest.raises(ErlArgumentError):
        limits.check_rate(*args, 1, 5, 9, 60)
    with pytest.raises(ErlArgumentError):
        limits.increment("rc", "client", -1)


def test_counting_is_thread_safe() -> None:
    limits = RateLimits(Clock())
    threads = [
        threading.Thread(target=lambda: [limits.increment("rc", "e", 1) for _ in range(500)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limits.count("rc", "e", 60) == 4000


APP = """
from datetime import timedelta
from compute_emu.sdk import Request, Response, compute_runtime as rt
from compute_emu.sdk.erl import (ERL, CounterDuration, ERLError, Penaltybox, RateCounter,
                                 RateWindow)

def main():
    req = Request.from_client()
    who = req.get_query_parameter("who") or "anon"
    if req.get_path() == "/runtime":
        sum(i * i for i in range(300_000))  # some CPU
        values = [rt.pop(), rt.region(), rt.hostname(), rt.service_id(), rt.customer_id(),
                  rt.service_version(), rt.cache_generation(), rt.is_staging(),
                  rt.sandbox_id() == req.get_client_request_id(),
                  rt.elapsed_vcpu_ms() >= 1, rt.heap_memory_snapshot_mib() >= 1]
        Response.from_body(repr(values)).send_to_client()
        return
    if req.get_path() == "/bad":
        try:
            Penaltybox.open("pb").add(who, timedelta(seconds=5))
        except ERLError.InvalidArgument as exc:
            Response.from_body(f"invalid: {exc}").send_to_client()
        return
    limiter = ERL.open(RateCounter.open("requests"), Penaltybox.open("pb"))
    if limiter.check_rate(who, 50, RateWindow.TenSecs, 9, timedelta(minutes=1)):
        Response.from_status(429).with_body("slow down").send_to_client()
        return
    counter = RateCounter.open("requests")
    count = counter.lookup_count(who, CounterDuration.TenSec)
    counter.increment("side", 3)
    side = counter.lookup_rate("side", RateWindow.OneSec) >= 3
    Response.from_body(f"ok {count} {side} {Penaltybox.open('pb').has(who)}").send_to_client()
"""


def test_an_app_trips_its_rate_limit_and_reads_runtime_values(make_project, serve) -> None:
    served = serve(make_project(APP))
    first = httpx.get(f"{served.url}/?who=alice")
    assert (first.status_code, first.text) == (200, "ok 50 True False")
    second = httpx.get(f"{served.url}/?who=alice")  # 100 events in 10 s: 10/s > 9
    assert (second.status_code, second.text) == (429, "slow down")
    assert httpx.get(f"{served.url}/?who=alice").status_code == 429  # in the penalty box
    assert httpx.get(f"{served.url}/?who=bob").text == "ok 50 True False"  # per entry
    assert httpx.get(f"{served.url}/bad").text.startswith("invalid: a penalty box TTL")
    values = httpx.get(f"{served.url}/runtime").text
    zeros = "0" * 22
    assert values == (
        f"['XXX', 'Somewhere', 'localhost', '{zeros}', '{zeros}', 0, 0, False, True, True, True]"
    )
