"""`compute-emu publish`: the publish body, the CLI's answers, and a real Pushpin and delivery."""

from __future__ import annotations

import asyncio
import io
import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from click.testing import CliRunner, Result
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from compute_emu.cli import main
from compute_emu.errors import UserError
from compute_emu.log import RequestLog
from compute_emu.publish import (
    OptionError,
    build_item,
    chosen_formats,
    describe,
    parse_header,
    publish_target,
    sse_event,
)
from compute_emu.pushpin.config import PushpinSettings
from compute_emu.pushpin.supervisor import Pushpin
from tests.fanout_support import Fanout, LineReader, free_port, require_pushpin
from tests.support.processes import ROOT, python_module
from tests.support.threaded_server import serve_in_thread


# -- the publish body ------------------------------------------------------------------------
def formats(item: dict[str, Any]) -> dict[str, Any]:
    return item["formats"]  # type: ignore[no-any-return]


def test_http_stream_content_gets_a_newline_unless_told_not_to():
    assert build_item("test", "hello", fmt="http-stream") == {
        "channel": "test",
        "formats": {"http-stream": {"content": "hello\n"}},
    }
    assert formats(build_item("c", "hi", fmt=["http-stream"], newline=False)) == {
        "http-stream": {"content": "hi"}
    }


def test_by_default_a_message_goes_to_every_transport_and_an_action_where_it_applies():
    assert build_item("test", "hello") == {
        "channel": "test",
        "formats": {
            "http-stream": {"content": "hello\n"},
            "ws-message": {"content": "hello"},
            "http-response": {"code": 200, "body": "hello"},
        },
    }
    assert formats(build_item("c", "hi", newline=False, code=404, headers=("A: b",))) == {
        "http-stream": {"content": "hi"},
        "ws-message": {"content": "hi"},
        "http-response": {"code": 404, "headers": [["A", "b"]], "body": "hi"},
    }
    assert formats(build_item("c", action="close", code=4000)) == {
        "http-stream": {"action": "close"},
        "ws-message": {"action": "close", "code": 4000},
    }
    assert formats(build_item("c", action="hint")) == {
        "http-stream": {"action": "hint"},
        "http-response": {"action": "hint"},
    }


def test_formats_chosen_together():
    item = build_item("c", "a\nb", fmt=["sse", "ws-message", "sse"], event="e")
    assert formats(item) == {
        "http-stream": {"content": "event: e\ndata: a\ndata: b\n\n"},
        "ws-message": {"content": "a\nb"},
    }
    assert chosen_formats(["ws-message", "ws-message"], None) == ("ws-message",)
    assert chosen_formats((), "close") == ("http-stream", "ws-message")


def test_sse_wraps_each_line_and_is_sent_as_http_stream():
    item = build_item("c", "one\ntwo\r\nthree", fmt="sse", event="tick")
    assert formats(item) == {
        "http-stream": {"content": "event: tick\ndata: one\ndata: two\ndata: three\n\n"}
    }
    assert sse_event("plain") == "data: plain\n\n"
    assert sse_event("") == "data: \n\n"


def test_ws_message_content_is_the_message():
    assert formats(build_item("c", "frame", fmt="ws-message")) == {
        "ws-message": {"content": "frame"}
    }


def test_http_response_code_headers_and_body():
    assert formats(build_item("c", "body", fmt="http-response")) == {
        "http-response": {"code": 200, "body": "body"}
    }
    item = build_item(
        "c",
        "gone",
        fmt="http-response",
        code=410,
        headers=("X-A: 1", "X-A:2", "Content-Type:  text/plain "),
    )
    assert formats(item) == {
        "http-response": {
            "code": 410,
            "headers": [["X-A", "1"], ["X-A", "2"], ["Content-Type", "text/plain"]],
            "body": "gone",
        }
    }


def test_ids():
    item = build_item("c", "m", id="m2", prev_id="m1")
    assert (item["id"], item["prev-id"]) == ("m2", "m1")
    assert "id" not in build_item("c", "m") and "prev-id" not in build_item("c", "m")


@pytest.mark.parametrize(
    ("fmt", "action", "code", "expected"),
    [
        ("http-stream", "close", None, {"http-stream": {"action": "close"}}),
        ("http-stream", "hint", None, {"http-stream": {"action": "hint"}}),
        ("sse", "close", None, {"http-stream": {"action": "close"}}),
        ("http-response", "hint", None, {"http-response": {"action": "hint"}}),
        ("ws-message", "close", None, {"ws-message": {"action": "close"}}),
        ("ws-message", "close", 4001, {"ws-message": {"action": "close", "code": 4001}}),
    ],
)
def test_actions(fmt, action, code, expected):
    assert formats(build_item("c", fmt=fmt, action=action, code=code)) == expected


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({}, "MESSAGE is required"),
        ({"message": "m", "action": "close"}, "cannot be combined"),
        ({"message": "m", "event": "e"}, "--event applies only"),
        ({"message": "m", "fmt": "sse", "event": "a\nb"}, "one line"),
        ({"message": "m", "fmt": "ws-message", "newline": False}, "--no-newline"),
        ({"message": "m", "fmt": "http-stream", "headers": ("A: b",)}, "-H/--header applies"),
        ({"action": "close", "headers": ("A: b",)}, "-H/--header applies only"),
        ({"message": "m", "fmt": "http-response", "headers": ("nocolon",)}, "Name: value"),
        ({"message": "m", "fmt": ["http-stream", "ws-message"], "code": 200}, "--code applies"),
        ({"action": "hint", "code": 1000}, "--code applies only"),
        ({"message": "m", "fmt": ["sse", "http-stream"]}, "both go to HTTP streams"),
        ({"message": "m", "fmt": ["ws-message", "nope"]}, "unknown format 'nope'"),
        ({"fmt": "ws-message", "action": "hint", "code": 1000}, "--code applies only"),
        ({"message": "m", "fmt": "http-response", "code": 99}, "100-599"),
        ({"fmt": "ws-message", "action": "close", "code": 5000}, "1000-4999"),
        ({"message": "m", "fmt": "nope"}, "unknown format"),
        ({"action": "nope"}, "unknown action"),
    ],
)
def test_option_errors(kwargs, fragment):
    with pytest.raises(OptionError, match=fragment):
        build_item("c", **kwargs)


def test_empty_channel():
    with pytest.raises(OptionError, match="CHANNEL"):
        build_item("", "m")


def test_parse_header():
    assert parse_header("Cache-Control: no-cache, x=y") == ("Cache-Control", "no-cache, x=y")
    assert parse_header("Empty:") == ("Empty", "")
    for bad in ("no colon", ": no name", "Bad Name: v", "X: a\r\nY: b"):
        with pytest.raises(OptionError):
            parse_header(bad)


def test_describe():
    everywhere = ("http-stream", "ws-message", "http-response")
    assert describe(build_item("test", "hello"), everywhere, "hello") == (
        'channel "test": http-stream, ws-message, http-response, status 200, 5 bytes'
    )
    assert describe(build_item("test", "hello", fmt="sse"), ["sse"], "hello") == (
        'channel "test": sse, 5 bytes'
    )
    item = build_item("t", "é", fmt="http-response", code=201, headers=("A: b",), id="2")
    assert describe(item, ["http-response"], "é") == (
        'channel "t": http-response, status 201, 1 header(s), 2 bytes, id "2"'
    )
    item = build_item("t", fmt="ws-message", action="close", code=4001, prev_id="1")
    assert describe(item, ["ws-message"], None) == (
        'channel "t": ws-message close, code 4001, prev-id "1"'
    )
    item = build_item("t", action="close")
    assert describe(item, ("http-stream", "ws-message"), None) == (
        'channel "t": http-stream, ws-message close'
    )


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://127.0.0.1:5561", ("http", "127.0.0.1", 5561, "/publish/")),
        ("http://127.0.0.1:5561/", ("http", "127.0.0.1", 5561, "/publish/")),
        ("http://localhost:1/publish", ("http", "localhost", 1, "/publish/")),
        ("https://pp.example/prefix/", ("https", "pp.example", None, "/prefix/publish/")),
        ("http://[::1]:5561", ("http", "::1", 5561, "/publish/")),
    ],
)
def test_publish_target(url, target):
    assert publish_target(url) == target


@pytest.mark.parametrize("url", ["127.0.0.1:5561", "ftp://x", "http://:5", "http://h:99999"])
def test_bad_urls(url):
    with pytest.raises(UserError, match="expected an address like"):
        publish_target(url)


# -- the command against a scripted endpoint ------------------------------------------------
class FakePushpin:
    """Answers every POST with ``status``/``body`` and keeps what it was sent."""

    def __init__(self) -> None:
        self.status, self.body = 200, "Published\n"
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((self.path, dict(self.headers), data))
                payload = fake.body.encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = serve_in_thread(self.server)

    def sent(self) -> dict[str, Any]:
        return json.loads(self.requests[-1][2])  # type: ignore[no-any-return]


@pytest.fixture
def fake() -> Iterator[FakePushpin]:
    server = FakePushpin()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(5)


def publish(url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["publish", *args, "--url", url], input=stdin)


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: "), line
    return line


def test_posts_the_item_and_reports(fake):
    result = publish(fake.url, "test", "hello", "--id", "m1", "--format", "http-stream")
    assert result.exit_code == 0, result.output
    assert result.stdout == 'Published: channel "test": http-stream, 5 bytes, id "m1"\n'
    path, headers, _ = fake.requests[-1]
    assert path == "/publish/" and headers["Content-Type"] == "application/json"
    assert fake.sent() == {
        "items": [
            {"channel": "test", "id": "m1", "formats": {"http-stream": {"content": "hello\n"}}}
        ]
    }
    result = publish(fake.url, "test", "hi", "--format", "ws-message", "--format", "sse")
    assert result.stdout == 'Published: channel "test": ws-message, sse, 2 bytes\n'
    assert fake.sent()["items"][0]["formats"] == {
        "ws-message": {"content": "hi"},
        "http-stream": {"content": "data: hi\n\n"},
    }
    result = publish(fake.url, "test", "hello")
    assert result.stdout == (
        'Published: channel "test": http-stream, ws-message, http-response, status 200, 5 bytes\n'
    )
    assert set(fake.sent()["items"][0]["formats"]) == {"http-stream", "ws-message", "http-response"}


def test_stdin_message_drops_one_trailing_newline(fake):
    result = publish(fake.url, "c", "-", "--format", "sse", "--event", "e", stdin="a\nb\n")
    assert result.exit_code == 0, result.output
    item = fake.sent()["items"][0]
    assert item["formats"] == {"http-stream": {"content": "event: e\ndata: a\ndata: b\n\n"}}


def test_a_message_that_is_not_utf8(fake):
    line = one_error_line(CliRunner().invoke(main, ["publish", "c", "-"], input=b"\xff\n"))
    assert "UTF-8" in line
    assert "UTF-8" in one_error_line(publish(fake.url, "c", "bad \udcff"))
    assert not fake.requests


def test_pushpin_400_text_is_the_error(fake):
    fake.status, fake.body = 400, "Invalid format: no formats specified\n"
    line = one_error_line(publish(fake.url, "c", "m"))
    assert line == "error: Pushpin rejected the message: Invalid format: no formats specified"


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (404, "Not Found\n", "answered 404 Not Found: Not Found; is --url Pushpin's publish port"),
        (500, "", "answered 500 Internal Server Error: (no body)"),
    ],
)
def test_other_statuses(fake, status, body, fragment):
    fake.status, fake.body = status, body
    line = one_error_line(publish(fake.url, "c", "m"))
    assert line.startswith(f"error: {fake.url}/publish/ answered") and fragment in line


def test_option_mistakes_are_usage_errors(fake):
    result = publish(fake.url, "c")
    assert result.exit_code == 2 and "MESSAGE is required" in result.stderr
    result = publish(fake.url, "c", "m", "--format", "ws-message", "-H", "A: b")
    assert result.exit_code == 2 and "-H/--header applies only" in result.stderr
    assert not fake.requests


def test_refused_connection_says_how_to_start_pushpin():
    port = free_port()
    result = subprocess.run(
        [
            *python_module(
                "compute_emu", "publish", "test", "hi", "--url", f"http://127.0.0.1:{port}"
            )
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: no Pushpin is listening at http://127.0.0.1:{port} ")
    assert "compute-emu serve" in line and "[local_server.pushpin] enable = true" in line


# -- a real Pushpin --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pushpin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Pushpin as `compute-emu serve` runs it (no routes: publishing needs none)."""
    require_pushpin()
    settings = PushpinSettings(proxy_port=free_port(), publish_port=free_port())
    log = RequestLog(out=io.StringIO(), err=io.StringIO())
    project = tmp_path_factory.mktemp("pushpin-project")
    pushpin = Pushpin.prepare(None, settings, project, {}, log)
    with start_blocking_portal() as portal:
        future, _ = portal.start_task(pushpin.run)
        try:
            yield pushpin.api_url  # Pushpin itself (serve puts its publish port in front)
        finally:
            portal.call(pushpin.stop)
            future.cancel()
    assert not pushpin.dir.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["hello"],
        ["hello", "--no-newline", "--id", "2", "--prev-id", "1"],
        ["line one\nline two", "--format", "sse", "--event", "greeting"],
        ["frame", "--format", "ws-message"],
        ["body", "--format", "http-response", "--code", "202", "-H", "X-A: 1", "-H", "X-A: 2"],
        ["--action", "close"],
        ["--action", "hint"],
        ["--format", "http-response", "--action", "hint"],
        ["--format", "ws-message", "--action", "close", "--code", "4001"],
    ],
)
def test_real_pushpin_accepts_every_format(pushpin_url, args):
    result = publish(pushpin_url, "test", *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('Published: channel "test": ')


def test_real_pushpin_rejects_an_oversized_message(pushpin_url):
    line = one_error_line(publish(pushpin_url, "test", "x" * 70_000))
    assert line.startswith("error: Pushpin rejected the message: Request body too large.")


# -- delivery through compute-emu serve, Pushpin and a GRIP origin --------------------------
@pytest.fixture
def fanout_publish(shared_fanout: Fanout) -> Callable[..., Result]:
    """`compute-emu publish` to compute-emu with Pushpin (one for the module's tests)."""
    fanout = shared_fanout

    def run(*args: str) -> Result:
        result = publish(f"http://127.0.0.1:{fanout.publish_port}", "test", *args)
        assert result.exit_code == 0, result.output
        return result

    run.url = fanout.url  # type: ignore[attr-defined]
    return run


def until(publish_once: Callable[[], object], arrived: Callable[[], bool]) -> None:
    """Publish again until it arrives (a new subscription takes a moment to settle)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        publish_once()
        if arrived():
            return
    raise AssertionError("the message never arrived")


def line_arrives(reader: LineReader, text: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return reader.wait_for(text, timeout=0.5) == text
        except queue.Empty:
            return False

    return check


def test_http_stream_and_close_are_delivered(fanout_publish):
    reader = LineReader(f"{fanout_publish.url}/stream")
    try:
        assert reader.next_line() == "stream open"
        until(lambda: fanout_publish("hello"), line_arrives(reader, "hello"))
        fanout_publish("--action", "close")
        assert reader.done.wait(10), "the stream did not end on --action close"
    finally:
        reader.close()


def test_sse_event_is_delivered(fanout_publish):
    reader = LineReader(f"{fanout_publish.url}/events")
    try:
        assert reader.wait_for("event: open") == "event: open"
        until(
            lambda: fanout_publish("hi there", "--format", "sse", "--event", "greeting"),
            line_arrives(reader, "event: greeting"),
        )
        assert reader.next_line() == "data: hi there"
    finally:
        reader.close()


def test_http_response_answers_a_long_poll(fanout_publish):
    import httpx

    answers: queue.Queue[httpx.Response] = queue.Queue()
    url = f"{fanout_publish.url}/poll"
    threading.Thread(target=lambda: answers.put(httpx.get(url, timeout=30)), daemon=True).start()
    args = ("done\n", "--format", "http-response", "--code", "202", "-H", "X-Pub: yes")
    deadline = time.monotonic() + 10
    while True:
        fanout_publish(*args)
        try:
            response = answers.get(timeout=0.5)
            break
        except queue.Empty:
            assert time.monotonic() < deadline
    assert (response.status_code, response.headers["x-pub"], response.text) == (
        202,
        "yes",
        "done\n",
    )


def test_ws_message_and_close_code_are_delivered(fanout_publish):
    async def scenario() -> int | None:
        async with connect(f"ws://{fanout_publish.url.removeprefix('http://')}/ws") as ws:
            for _ in range(20):
                await asyncio.to_thread(fanout_publish, "pushed", "--format", "ws-message")
                try:
                    assert await asyncio.wait_for(ws.recv(), 0.5) == "pushed"
                    break
                except TimeoutError:
                    continue
            else:
                raise AssertionError("ws-message never arrived")
            close = ("--format", "ws-message", "--action", "close", "--code", "4001")
            await asyncio.to_thread(fanout_publish, *close)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert asyncio.run(scenario()) == 4001


def test_one_default_publish_reaches_a_stream_a_long_poll_and_a_websocket(fanout_publish):
    import httpx

    reader = LineReader(f"{fanout_publish.url}/stream")
    answers: queue.Queue[httpx.Response] = queue.Queue()
    url = f"{fanout_publish.url}/poll"

    async def scenario() -> None:
        async with connect(f"ws://{fanout_publish.url.removeprefix('http://')}/ws") as ws:
            threading.Thread(
                target=lambda: answers.put(httpx.get(url, timeout=30)), daemon=True
            ).start()
            assert reader.next_line() == "stream open"
            for n in range(40):  # until all three are subscribed: then one publish reaches all
                await asyncio.to_thread(fanout_publish, f"everywhere {n}")
                try:
                    got_ws = await asyncio.wait_for(ws.recv(), 0.3)
                    poll = answers.get(timeout=0.3)
                    line = await asyncio.to_thread(reader.wait_for, f"everywhere {n}", 2)
                except (TimeoutError, queue.Empty):
                    continue
                if got_ws == f"everywhere {n}" and poll.text == f"everywhere {n}":
                    assert line == f"everywhere {n}"
                    return
                threading.Thread(
                    target=lambda: answers.put(httpx.get(url, timeout=30)), daemon=True
                ).start()
            raise AssertionError("no single publish reached the three of them")

    try:
        asyncio.run(scenario())
    finally:
        reader.close()


def test_cli_help_lists_both_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert "init" in result.stdout and "publish" in result.stdout
