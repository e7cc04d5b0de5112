"""The console's state, without sockets: the request ring fed by the log, the held
connections table, the event hub's bounds, and the JSON shapes of stores, cache and publish."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest

from compute_emu.cache.store import CachedBody, CacheStore, Entry, HttpMeta
from compute_emu.console.cache_view import advance_clock, objects, purge_request, remove_object
from compute_emu.console.errors import ConsoleError
from compute_emu.console.events import EventHub
from compute_emu.console.held import HeldTable
from compute_emu.console.publishing import item_of
from compute_emu.console.requests import RING, RequestFeed, backend_calls
from compute_emu.console.stores import kv_delete, kv_list, kv_read, kv_store, kv_write, overview
from compute_emu.log import RequestLog, RequestRecord
from compute_emu.platform import ConfigStoreConfig, KVStore, Platform, SecretStore
from compute_emu.pushpin.stats import Delivery, HeldConnection, Subscription


def quiet_log() -> RequestLog:
    out = io.StringIO()
    return RequestLog(out, out, colour=False)


# -- the request ring ------------------------------------------------------------------------
@pytest.mark.anyio
async def test_the_ring_keeps_records_as_values_with_their_output() -> None:
    log = quiet_log()
    hub = EventHub()
    told: list[tuple[str, tuple[Any, ...]]] = []
    feed = RequestFeed(hub, lambda event, values: told.append((event, values)))
    stop = log.watch(feed)
    subscriber = hub.subscribe()

    record = RequestRecord(7, "GET", "/kv?key=a")
    log.app_output(7, "first line")
    log.app_partial(7, "a prompt: ")
    log.app_output(7, "answered", continued=True)
    record.status, record.bytes_sent = 500, 42
    record.notes = ["send→origin HIT", "send_async→api"]
    record.error = "ValueError: no"
    record.error_page = "<!doctype html><title>500</title>"
    log.request(record)
    record.status = 999  # the record changes afterwards: the console's copy does not

    [view] = feed.snapshot()
    assert view["status"] == 500 and view["state"] == "done"
    assert view["output"] == ["first line", "a prompt: answered"]
    assert view["calls"] == [
        {"call": "send", "backend": "origin", "cache": "HIT"},
        {"call": "send_async", "backend": "api"},
    ]
    assert view["error"] == "ValueError: no" and view["error_page"] is True
    assert view["bytes_sent"] == 42 and view["duration_ms"] >= 0
    assert feed.error_page(7) == "<!doctype html><title>500</title>"
    assert feed.error_page(8) is None
    assert [name for name, _ in await hub.next_events(subscriber)] == ["request"]

    log.app_output(7, "printed after it answered")  # from the app's thread: goes to the loop
    thread = threading.Thread(target=log.app_output, args=(7, "from a thread"))
    thread.start()
    thread.join()
    events = await hub.next_events(subscriber)
    while events[-1][1]["output"][-1] != "from a thread":
        events += await hub.next_events(subscriber)
    assert feed.snapshot()[0]["output"][-2:] == ["printed after it answered", "from a thread"]
    stop()
    log.request(RequestRecord(8, "GET", "/"))
    assert [v["id"] for v in feed.snapshot()] == [7]  # no longer watching
    assert told == []  # not a handoff, no GRIP answer: nothing for the held table


@pytest.mark.anyio
async def test_open_then_closed_and_held_events() -> None:
    log = quiet_log()
    told: list[tuple[str, tuple[Any, ...]]] = []
    feed = RequestFeed(EventHub(), lambda event, values: told.append((event, values)))
    log.watch(feed)
    record = RequestRecord(3, "GET", "/stream")
    log.handed_off(record, "fanout", "self")
    log.opened(record, "stream from Pushpin [self]", 200)
    [view] = feed.snapshot()
    assert view["state"] == "open" and view["status"] == 200
    assert view["calls"] == [{"call": "fanout", "backend": "self"}]  # before the record says
    origin = RequestRecord(4, "GET", "/stream")
    origin.status, origin.grip = 200, ("stream", ("news",))
    log.request(origin)
    record.status, record.bytes_sent, record.bytes_received = 200, 15, None
    log.request(record)
    assert [v["state"] for v in feed.snapshot()] == ["done", "done"]
    assert [event for event, _ in told] == ["handed_off", "opened", "grip", "completed"]
    assert told[0][1][:5] == (3, "GET", "/stream", "fanout", "self")
    assert told[2][1] == ("GET", "/stream", "stream", ("news",))
    assert told[3][1] == (3, 200, 15, None, None, None)


@pytest.mark.anyio
async def test_the_ring_and_output_are_bounded() -> None:
    log = quiet_log()
    feed = RequestFeed(EventHub())
    log.watch(feed)
    for request_id in range(RING + 30):
        log.request(RequestRecord(request_id, "GET", f"/{request_id}"))
    ids = [view["id"] for view in feed.snapshot()]
    assert ids == list(range(30, RING + 30))
    for _ in range(100):
        log.app_output(1000, "x" * 1000)
    log.request(RequestRecord(1000, "GET", "/loud"))
    output = feed.snapshot()[-1]["output"]
    assert len(output) == 66 and output[-1] == "… 35 more lines not kept"


@pytest.mark.anyio
async def test_a_page_that_stops_reading_is_dropped_not_waited_for() -> None:
    hub = EventHub(limit=5)
    slow, fast = hub.subscribe(), hub.subscribe()
    for n in range(5):
        hub.publish("request", {"id": n})
    assert len(await hub.next_events(fast)) == 5
    hub.publish("request", {"id": 5})  # slow has 5 waiting already
    assert await hub.next_events(slow) == []  # dropped: its stream ends
    assert await hub.next_events(fast) == [("request", {"id": 5})]
    hub.publish("request", {"id": 6})
    assert not slow.queue  # its events were let go
    assert await hub.next_events(slow) == []  # and it stays dropped


def test_backend_calls_from_notes() -> None:
    assert backend_calls(["send→origin MISS", "fanout→self", "odd"]) == [
        {"call": "send", "backend": "origin", "cache": "MISS"},
        {"call": "fanout", "backend": "self"},
        {"note": "odd"},
    ]


# -- held connections ------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_stream_under_the_channel_the_app_answered_with() -> None:
    clock = Clock()
    table = HeldTable(fanout=True, clock=clock)
    assert table.tell("handed_off", (1, "GET", "/sse", "fanout", "self", 999.5))
    assert table.tell("handed_off", (2, "GET", "/sse", "fanout", "self", 999.6))
    assert table.tell("grip", ("GET", "/sse", "stream", ("news",)))  # the oldest: #1
    assert table.tell("opened", (1, 200))
    assert table.pushpin(Subscription("news", "stream", 1, 60.0))
    state = table.state()
    assert state["stats"] is True
    assert state["channels"] == [
        {
            "name": "news",
            "subscribers": {"stream": 1},
            "messages": 0,
            "deliveries": 0,
            "connections": [1],
        }
    ]
    first, second = state["connections"]
    assert first["state"] == "stream" and first["channels"] == ["news"]
    assert first["started"] == 999500 and first["ended"] is None
    assert second["state"] == "waiting" and second["channels"] == []

    assert table.pushpin(Delivery("news", 1, "http-stream"))
    assert table.state()["channels"][0]["messages"] == 1
    clock.now = 1010.0
    assert table.tell("completed", (1, 200, 120, None, None, None))
    closed = table.state()["closed"][0]
    assert closed["state"] == "closed" and closed["bytes_to_client"] == 120
    assert closed["ended"] == 1010000
    assert table.tell("completed", (2, 200, 5, None, None, None))  # answered, never held
    assert len(table.state()["closed"]) == 1


def test_long_polls_websockets_and_unmatched_answers() -> None:
    table = HeldTable(fanout=True, clock=Clock())
    table.tell("handed_off", (1, "GET", "/poll", "fanout", "self", 1000.0))
    assert table.tell("grip", ("GET", "/poll", "response", ("a", "b")))
    assert table.state()["connections"][0]["state"] == "long-poll"
    assert not table.tell("grip", ("GET", "/other", "stream", ("c",)))  # no handoff for it
    table.tell("handed_off", (2, "GET", "/ws", "fanout", "self", 1000.0))
    table.tell("opened", (2, 101))
    assert table.state()["connections"][1]["state"] == "websocket"
    table.tell("completed", (2, 101, 10, 20, (1, 2), None))
    closed = table.state()["closed"][0]
    assert closed["messages"] == [1, 2] and closed["bytes_from_client"] == 20
    assert [c["name"] for c in table.state()["channels"]] == ["a", "b"]  # named, not reported
    assert not table.tell("opened", (99, 200))
    assert not table.tell("completed", (99, 200, 0, None, None, None))
    with pytest.raises(ValueError, match="unknown event"):
        table.tell("nonsense", ())


def test_an_answer_too_late_for_its_handoff_is_not_matched() -> None:
    clock = Clock()
    table = HeldTable(fanout=True, clock=clock)
    table.tell("handed_off", (1, "GET", "/sse", "fanout", "self", 900.0))
    assert not table.tell("grip", ("GET", "/sse", "stream", ("x",)))


def test_pushpin_subscriptions_and_connections_expire() -> None:
    clock = Clock()
    table = HeldTable(fanout=True, clock=clock)
    table.pushpin(Subscription("a", "stream", 2, 60.0))
    table.pushpin(Subscription("a", "ws", 1, 60.0))
    assert not table.pushpin(Subscription("a", "ws", 1, 60.0))  # a refresh, nothing new
    table.pushpin(HeldConnection("condure:1", "http", "self", 120.0))
    table.pushpin(HeldConnection("condure:2", "ws", "self", 120.0))
    state = table.state()
    assert state["channels"][0]["subscribers"] == {"stream": 2, "ws": 1}
    assert state["pushpin"] == {"connections": 2, "routes": {"self": 2}}
    assert table.pushpin(HeldConnection("condure:2", "", "", None, gone=True))
    assert table.pushpin(Subscription("a", "ws", 0, None, gone=True))
    assert table.state()["channels"][0]["subscribers"] == {"stream": 2}
    clock.now += 69
    assert not table.expire()
    clock.now += 2
    assert table.expire()
    assert table.state()["channels"] == []
    clock.now += 60
    assert table.expire()
    assert table.state()["pushpin"]["connections"] == 0


# -- stores ----------------------------------------------------------------------------------
def platform(tmp_path: Path) -> Platform:
    return Platform(
        kv_stores={"sessions": KVStore("sessions", [("a", b"1", "meta")])},
        config_stores={"settings": ConfigStoreConfig("settings", "inline-toml", {"mode": "dev"})},
        secret_stores={"keys": SecretStore("keys", {"api": b"s3cret"})},
    )


def test_stores_overview_never_shows_secrets(tmp_path: Path) -> None:
    data = overview(platform(tmp_path))
    assert data == {
        "kv": [{"name": "sessions", "keys": 1, "persisted": False}],
        "config": [{"name": "settings", "items": {"mode": "dev"}, "error": None}],
        "secret": [{"name": "keys", "names": ["api"]}],
    }
    assert "s3cret" not in repr(data)


def test_kv_read_write_delete(tmp_path: Path) -> None:
    store = kv_store(platform(tmp_path), "sessions")
    written = kv_write(store, {"key": "b", "value": "two", "metadata": "m", "ttl": 60})
    assert written["store"] == "sessions" and written["key"] == "b"
    entry = kv_read(store, "b")
    assert entry["value"] == "two" and entry["encoding"] == "utf-8" and entry["metadata"] == "m"
    assert entry["generation"] == written["generation"] and 59 <= entry["expires_in"] <= 60
    kv_write(store, {"key": "bin", "value": "/w==", "encoding": "base64"})
    assert kv_read(store, "bin") | {"generation": 0} == {
        "store": "sessions",
        "key": "bin",
        "value": "/w==",
        "encoding": "base64",
        "size": 1,
        "metadata": None,
        "generation": 0,
        "expires_in": None,
    }
    assert kv_list(store, None, None) == {
        "store": "sessions",
        "keys": ["a", "b", "bin"],
        "cursor": None,
    }
    assert kv_list(store, "b", None)["keys"] == ["b", "bin"]
    assert kv_delete(store, "b") == {"store": "sessions", "key": "b", "deleted": True}
    assert kv_delete(store, "b")["deleted"] is False


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"value": "x"}, 400, "say which key"),
        ({"key": "a\nb", "value": "x"}, 400, "KV key 'a\\nb'"),
        ({"key": "k", "value": 3}, 400, "must be a string"),
        ({"key": "k", "value": "!!", "encoding": "base64"}, 400, "not valid base64"),
        ({"key": "k", "value": "x", "encoding": "latin-1"}, 400, "unknown encoding"),
        ({"key": "k", "value": "x", "metadata": 1}, 400, "metadata must be a string"),
        ({"key": "k", "value": "x", "ttl": "1"}, 400, "ttl must be a number"),
        ({"key": "k", "value": "x", "ttl": -1}, 400, "time to live must be positive"),
    ],
)
def test_kv_write_errors(tmp_path: Path, body: dict[str, Any], status: int, words: str) -> None:
    store = kv_store(platform(tmp_path), "sessions")
    with pytest.raises(ConsoleError) as caught:
        kv_write(store, body)
    assert caught.value.status == status and words in str(caught.value)


def test_unknown_store_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match=r"no KV store named 'x' \(KV stores: sessions\)"):
        kv_store(platform(tmp_path), "x")
    with pytest.raises(ConsoleError, match="has no key 'zz'") as caught:
        kv_read(kv_store(platform(tmp_path), "sessions"), "zz")
    assert caught.value.status == 404


# -- cache -----------------------------------------------------------------------------------
def cached(store: CacheStore, key: bytes, **fields: Any) -> Entry:
    entry = Entry(key=key, body=CachedBody(b"hello"), stored_at=store.now(), **fields)
    store.insert(entry)
    return entry


def test_cache_objects_and_actions() -> None:
    store = CacheStore()
    log = quiet_log()
    http = cached(
        store,
        b"http:abc",
        max_age=60,
        stale_while_revalidate=30,
        surrogate_keys=frozenset({"news", "all"}),
        meta=HttpMeta(200, ()),
        label="http://origin/news",
    )
    http.hits = 3
    cached(store, b"core-key", max_age=10)
    data = objects(store)
    assert data["count"] == 2 and data["capacity"] == store.capacity
    core, news = data["objects"]
    assert news == {
        "id": http.id,
        "key": "http://origin/news",
        "kind": "http",
        "status": 200,
        "surrogate_keys": ["all", "news"],
        "age": news["age"],
        "ttl": 60.0,
        "fresh_for": news["fresh_for"],
        "stale_while_revalidate": 30.0,
        "stale_if_error": 0.0,
        "soft_purged": False,
        "state": "fresh",
        "hits": 3,
        "size": 5,
        "complete": True,
        "vary": {},
    }
    assert core["key"] == "core-key" and core["kind"] == "core" and core["status"] is None

    assert advance_clock(store, {"seconds": 70}) == {"advanced": 70}
    states = {o["key"]: o["state"] for o in objects(store)["objects"]}
    assert states == {"http://origin/news": "stale-while-revalidate"}  # the core one expired
    assert purge_request(store, {"surrogate_key": "news", "soft": True}, log) == {"purged": 1}
    assert objects(store)["objects"][0]["soft_purged"] is True
    assert remove_object(store, {"id": http.id}, log) == {"removed": 1}
    assert objects(store)["count"] == 0
    cached(store, b"x", max_age=5)
    # everything the store holds, the expired core object (not yet dropped) included
    assert purge_request(store, {"all": True}, log) == {"purged": 2}
    assert "cache: purged 2 objects (everything)" in log.out.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda s, log: purge_request(s, {}, log), "say what to purge"),
        (lambda s, log: purge_request(s, {"surrogate_key": ""}, log), "say what to purge"),
        (lambda s, log: remove_object(s, {"id": 12345}, log), "no cache object 12345"),
        (lambda s, log: advance_clock(s, {"seconds": "5"}), "say how far"),
        (lambda s, log: advance_clock(s, {"seconds": -1}), "seconds must be 0 to"),
    ],
)
def test_cache_errors(call: Any, words: str) -> None:
    with pytest.raises(ConsoleError, match=words):
        call(CacheStore(), quiet_log())


# -- publish ---------------------------------------------------------------------------------
def test_the_publish_form_builds_what_the_command_line_does() -> None:
    item, text = item_of({"channel": "test", "format": "sse", "message": "hi", "event": "tick"})
    assert item == {
        "channel": "test",
        "formats": {"http-stream": {"content": "event: tick\ndata: hi\n\n"}},
    }
    assert text == 'channel "test": sse, 2 bytes'  # the message's size
    item, _ = item_of({"channel": "c", "format": "http-stream", "message": ""})
    assert item["formats"] == {"http-stream": {"content": "\n"}}
    item, _ = item_of({"channel": "c", "format": "ws-message", "action": "close"})
    assert item["formats"] == {"ws-message": {"action": "close"}}
    item, _ = item_of({"channel": "c", "format": "http-response", "message": "done"})
    assert item["formats"] == {"http-response": {"code": 200, "body": "done"}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"channel": "", "message": "x"}, "CHANNEL must not be empty"),
        ({"channel": "c", "format": "smoke"}, "unknown format 'smoke'"),
        ({"channel": "c", "message": 5}, "message must be a string"),
        ({"channel": "c", "code": "200"}, "code must be a number"),
        (
            {"channel": "c", "format": "sse", "message": "x", "action": "close"},
            "cannot be combined",
        ),
        ({"channel": "c", "format": "http-stream", "event": "e", "message": "x"}, "--event"),
    ],
)
def test_publish_form_errors(body: dict[str, Any], words: str) -> None:
    with pytest.raises(ConsoleError, match=words) as caught:
        item_of(body)
    assert caught.value.status == 400
