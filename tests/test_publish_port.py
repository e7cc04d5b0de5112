"""The publish port of `compute-emu serve` in front of a real Pushpin: publishers publish, web
pages of other origins (and rebound DNS names) cannot, a page of the app's own origin can."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from gripcontrol import GripPubControl, HttpStreamFormat
from pubcontrol import Item

from tests.fanout_support import Fanout, LineReader
from tests.support.cdp import CDPSession, page_websocket_url
from tests.support.processes import Child, python_module
from tests.support.threaded_server import serve_in_thread
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.test_publish import line_arrives, until


def item(content: str) -> dict[str, object]:
    return {"channel": "test", "formats": {"http-stream": {"content": content + "\n"}}}


def body(content: str) -> bytes:
    return json.dumps({"items": [item(content)]}).encode()


@dataclass
class Held:
    fanout: Fanout
    reader: LineReader

    @property
    def publish_url(self) -> str:
        return f"http://127.0.0.1:{self.fanout.publish_port}/publish/"

    def settle(self) -> None:
        """Publish until the held stream gets it (its subscription takes a moment)."""
        until(lambda: self.fanout.publish(item("settled")), line_arrives(self.reader, "settled"))

    def next_is(self, marker: str) -> None:
        """Publish ``marker`` the ordinary way: it must be the next line the stream gets (so
        nothing published before it arrived)."""
        self.fanout.publish(item(marker))
        line = self.reader.next_line()
        while line == "settled":  # left over from settle()'s retries
            line = self.reader.next_line()
        assert line == marker


@pytest.fixture
def held(shared_fanout: Fanout) -> Iterator[Held]:
    """compute-emu with Pushpin (one for the module), and a stream held on channel "test"
    through the app (one per test)."""
    fanout = shared_fanout
    reader = LineReader(f"{fanout.url}/stream")
    try:
        assert reader.next_line() == "stream open"
        yield Held(fanout, reader)
    finally:
        reader.close()


def test_publishers_publish_through_the_publish_port(held: Held) -> None:
    held.settle()
    # gripcontrol, as the fanout-forward starter's origin publishes
    publisher = GripPubControl({"control_uri": f"http://127.0.0.1:{held.fanout.publish_port}"})
    publisher.publish("test", Item(HttpStreamFormat("from gripcontrol\n")), blocking=True)
    assert held.reader.next_line() == "from gripcontrol"
    # curl with a JSON body
    curl = ["curl", "-sS", "--fail", "-H", "Content-Type: application/json"]
    subprocess.run(
        [*curl, "-d", body("from curl").decode(), held.publish_url],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert held.reader.next_line() == "from curl"
    # `compute-emu publish`
    subprocess.run(
        python_module(
            "compute_emu",
            "publish",
            "test",
            "from the cli",
            "--url",
            f"http://127.0.0.1:{held.fanout.publish_port}",
        ),
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert held.reader.next_line() == "from the cli"
    # a chunked upload, and keep-alive: three publishes on one connection
    with httpx.Client(trust_env=False) as client:
        r = client.post(held.publish_url, content=iter([body("chunked")]))
        assert r.status_code == 200 and r.text == "Published\n"
        assert held.reader.next_line() == "chunked"
        for n in range(3):
            assert client.post(held.publish_url, content=body(f"kept {n}")).status_code == 200
            assert held.reader.next_line() == f"kept {n}"
    # Pushpin's own answers come back as they are
    r = httpx.post(held.publish_url, content=b"{nope", trust_env=False)
    assert r.status_code == 400 and "Body is not valid JSON" in r.text


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, "may not publish"),
        ({"Origin": "null", "Content-Type": "text/plain"}, "may not publish"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
        ({"Host": "evil.example"}, "--allow-host evil.example"),
    ],
)
def test_cross_site_and_rebound_requests_are_refused_and_publish_nothing(
    held: Held, headers: dict[str, str], fragment: str
) -> None:
    held.settle()
    r = httpx.post(held.publish_url, content=body("forged"), headers=headers, trust_env=False)
    assert r.status_code == 403 and fragment in r.text, r.text
    held.next_is("after the forged one")


def test_a_page_of_the_apps_own_origin_may_publish(held: Held) -> None:
    held.settle()
    app_origin = held.fanout.url  # http://127.0.0.1:<app port>
    for origin in (app_origin, app_origin.replace("127.0.0.1", "localhost")):
        r = httpx.post(
            held.publish_url, content=body(origin), headers={"Origin": origin}, trust_env=False
        )
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
        assert held.reader.next_line() == origin
    port = int(app_origin.rsplit(":", 1)[1])
    other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"
    r = httpx.post(held.publish_url, content=body("x"), headers={"Origin": other})
    assert r.status_code == 403
    held.next_is("after another port's page")


# -- in a real browser -----------------------------------------------------------------------
class Page:
    """A page of another origin: a tiny http.server on another loopback port."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                payload = b"<!doctype html><title>elsewhere</title><p>a page elsewhere</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = serve_in_thread(self.server)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_a_page_elsewhere_cannot_publish_from_chromium_but_the_apps_page_can(
    browser: tuple[Child, int],  # noqa: F811
    held: Held,
    tmp_path: Path,
) -> None:
    chromium, devtools_port = browser
    held.settle()
    page_elsewhere = Page()
    try:
        with CDPSession(page_websocket_url(devtools_port)) as page:
            page.navigate(page_elsewhere.url)
            page.wait_until("document.title === 'elsewhere'")
            chromium.snapshot_descendants()
            forged = json.dumps(body("forged by a page").decode())
            kind = page.evaluate(
                f"fetch({json.dumps(held.publish_url)}, "
                f"{{method: 'POST', mode: 'no-cors', body: {forged}}}).then((r) => r.type)"
            )
            assert kind == "opaque"  # sent, and its answer hidden from the page
            held.next_is("after the page elsewhere")  # the forged one never arrived
            held.fanout.served.child.wait_for(
                r"publish port: refused POST /publish/", stream="stderr"
            )

            # the app's own page may publish, and read the answer (CORS, with a preflight
            # for the JSON content type)
            page.navigate(held.fanout.url + "/info")
            page.wait_until("document.readyState === 'complete'")
            answer = page.evaluate(
                f"fetch({json.dumps(held.publish_url)}, {{method: 'POST', "
                "headers: {'Content-Type': 'application/json'}, "
                f"body: {json.dumps(body('from the app page').decode())}}})"
                ".then((r) => r.status + ' ' + r.headers.get('content-type'))"
            )
            assert answer == "200 text/plain"
            assert held.reader.next_line() == "from the app page"
    finally:
        page_elsewhere.close()
