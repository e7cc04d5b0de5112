"""The console in a real headless Chromium, against `compute-emu serve` with the real Pushpin:
requests appear live, a held SSE stream is listed under its channel, the publish form reaches
it, a KV key written in the page is what the app reads; and a page of another loopback
origin cannot use any of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Served
from tests.fanout_support import LineReader, require_pushpin
from tests.support.cdp import CDPSession, page_websocket_url
from tests.support.ports import free_port
from tests.support.processes import Child
from tests.test_browser import browser  # noqa: F401 (the fixture)
from tests.test_publish_port import Page

# The app is its own GRIP origin: a client's GET /events is handed to Fanout with the backend
# "self" (this same server); Pushpin's signed call back gets a stream hold on ?channel=.
APP = """
from compute_emu.sdk import Request, Response
from compute_emu.sdk.kv_store import KVStore

def main():
    req = Request.from_client()
    path = req.get_path()
    if path == "/events":
        if req.get_header("grip-sig") is None:
            req.handoff_fanout("self")
            return
        channel = req.get_query_parameter("channel") or "test"
        print(f"holding a stream on {channel}")
        (Response.from_status(200)
            .with_header("Content-Type", "text/event-stream")
            .with_header("Grip-Hold", "stream")
            .with_header("Grip-Channel", channel)
            .with_body("event: subscribed\\ndata: " + channel + "\\n\\n")
            .send_to_client())
        return
    if path == "/cached":  # through the readthrough cache, from this same app
        bereq = Request.get("http://127.0.0.1/origin").with_ttl(60).with_surrogate_key("page")
        bereq.send("self").send_to_client()
        return
    if path == "/origin":
        Response.from_status(200).with_body("from the origin").send_to_client()
        return
    if path == "/kv":
        key = req.get_query_parameter("key")
        try:
            value = KVStore.open("sessions").lookup(key).take_body_bytes()
        except Exception:
            Response.from_status(404).with_body("no such key").send_to_client()
            return
        Response.from_status(200).with_body(value).send_to_client()
        return
    print("hello from main()")
    Response.from_status(200).with_body("ok").send_to_client()
"""


@pytest.fixture
def served(make_project: Callable[..., Path], serve: Callable[..., Served]) -> Served:
    require_pushpin()
    port, proxy, publish = free_port(), free_port(), free_port()
    project = make_project(
        APP,
        backends={"self": f"http://127.0.0.1:{port}/"},
        extra=(
            "[local_server.pushpin]\nenable = true\n"
            '[local_server.kv_stores]\nsessions = [{key = "seeded", data = "x"}]\n'
            '[local_server.config_stores.settings]\nformat = "inline-toml"\n'
            '[local_server.config_stores.settings.contents]\nmode = "dev"\n'
            '[local_server.secret_stores]\nkeys = [{key = "api", data = "s3cret-value"}]\n'
        ),
    )
    served = serve(
        project,
        "--addr",
        f"127.0.0.1:{port}",
        "--pushpin-proxy-port",
        str(proxy),
        "--pushpin-publish-port",
        str(publish),
    )
    served.child.snapshot_descendants()
    return served


def console_url(served: Served) -> str:
    return served.child.wait_for(r"  console: (http://\S+)").group(1)


def js(value: str) -> str:
    return json.dumps(value)


def click(page: CDPSession, selector: str) -> None:
    page.evaluate(f"document.querySelector({js(selector)}).click()")


def fill(page: CDPSession, element_id: str, value: str) -> None:
    page.evaluate(f"document.getElementById({js(element_id)}).value = {js(value)}")


def test_the_console_sees_and_drives_a_realtime_app(
    browser: tuple[Child, int],  # noqa: F811
    served: Served,
) -> None:
    chromium, devtools_port = browser
    url = console_url(served)
    base = url.split("/.compute-emu")[0]
    with CDPSession(page_websocket_url(devtools_port)) as page:
        page.navigate(url)
        page.wait_until("document.getElementById('live')?.textContent === 'live'", timeout=15)
        chromium.snapshot_descendants()

        # a request appears, live, with what main() printed
        assert httpx.get(base + "/hello").text == "ok"
        row = "document.querySelector('#requests-table tr.request td.target')?.textContent"
        assert page.wait_until(f"{row} === 'GET /hello' && {row}") == "GET /hello"
        click(page, "#requests-table tr.request")
        assert "hello from main()" in page.wait_until(
            "document.querySelector('#requests-table tr.output pre')?.textContent"
        )

        # a held SSE stream, under its channel, with Pushpin's subscriber count
        stream = LineReader(base + "/events?channel=news")
        try:
            assert stream.wait_for("event: subscribed", timeout=15) == "event: subscribed"
            click(page, "#tabs button[data-panel='held']")
            channel = "document.querySelector('#held-channels .channel[data-channel=\"news\"]')"
            page.wait_until(
                f"{channel}?.querySelector('.conn[data-state=\"stream\"] .target')?.textContent"
                " === 'GET /events?channel=news'",
                timeout=15,
            )
            page.wait_until(
                f"{channel}?.querySelector('.subscribers')?.dataset.count === '1'", timeout=15
            )

            # the publish form reaches the stream
            fill(page, "publish-channel", "news")
            page.evaluate(
                "document.getElementById('publish-format').value = 'sse';"
                "document.getElementById('publish-format').dispatchEvent(new Event('change'))"
            )
            fill(page, "publish-message", "hello from the console")
            page.evaluate("document.getElementById('publish-form').requestSubmit()")
            assert page.wait_until(
                "document.getElementById('publish-result').textContent"
            ).startswith('Published: channel "news": sse')
            assert stream.wait_for("hello from the console") == "data: hello from the console"
            page.wait_until(f"{channel}?.textContent.includes('1 published, 1 delivered')")
        finally:
            stream.close()
        # a KV key written in the console is what the app reads
        click(page, "#tabs button[data-panel='stores']")
        page.wait_until("!!document.querySelector('#kv-keys li[data-key=\"seeded\"]')")
        fill(page, "kv-key", "greeting")
        fill(page, "kv-value", "written in the console")
        page.evaluate("document.getElementById('kv-form').requestSubmit()")
        page.wait_until("!!document.querySelector('#kv-keys li[data-key=\"greeting\"]')")
        assert httpx.get(base + "/kv?key=greeting").text == "written in the console"
        stores = page.evaluate("document.getElementById('panel-stores').innerText")
        assert "mode\tdev" in stores or "mode\ndev" in stores
        assert "api" in stores and "s3cret" not in stores  # secret names, never values

        # the cache: what the app's send() stored, purged by its surrogate key
        assert httpx.get(base + "/cached").text == "from the origin"
        assert httpx.get(base + "/cached").text == "from the origin"
        click(page, "#tabs button[data-panel='cache']")
        cached = "document.querySelector('#cache-table tbody tr')"
        assert page.wait_until(f"{cached}?.cells[0].textContent").endswith("/origin")
        assert page.evaluate(f"{cached}.cells[6].textContent") == "1"  # hits
        page.evaluate(f"{cached}.querySelector('button.badge').click()")  # "page"
        page.wait_until(
            "document.getElementById('cache-result').textContent"
            " === 'purged 1 object(s) tagged page'"
        )
        page.wait_until("document.querySelectorAll('#cache-table tbody tr').length === 0")
        click(page, "#tabs button[data-panel='requests']")
        assert "send→self HIT" in page.wait_until(
            "[...document.querySelectorAll('#requests-table .badge')]"
            ".map(b => b.textContent).join(' ')"
        )

        assert page.evaluate("location.pathname") == "/.compute-emu/console/"  # no reloads
        table = page.evaluate("document.getElementById('requests-table').innerText")
        assert "favicon" not in table  # the console's own icon is not asked of the app


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page of another origin on this machine (what another dev server would serve)."""
    page = Page()
    try:
        yield page.url
    finally:
        page.close()


# What a page of another origin tries, each a promise of a short outcome.
ATTEMPTS = {
    # read the page (and its token)
    "read page": "fetch(CONSOLE).then(r => r.text()).then(() => 'read', e => 'refused')",
    # read the API with a token it somehow knew: the preflight is refused
    "read api": (
        "fetch(CONSOLE + 'api/requests', {headers: {'X-Console-Token': TOKEN}})"
        ".then(() => 'read', e => 'refused')"
    ),
    # write blind (no-cors: the browser strips the token and the JSON type)
    "write kv": (
        "fetch(CONSOLE + 'api/kv/write', {method: 'POST', mode: 'no-cors', credentials: 'include',"
        " headers: {'X-Console-Token': TOKEN, 'Content-Type': 'application/json'},"
        " body: JSON.stringify({store: 'sessions', key: 'stolen', value: 'x'})})"
        ".then(() => 'sent', e => 'refused')"
    ),
    "write kv as text": (
        "fetch(CONSOLE + 'api/kv/write?token=' + TOKEN, {method: 'POST', mode: 'no-cors',"
        " headers: {'Content-Type': 'text/plain'},"
        " body: JSON.stringify({store: 'sessions', key: 'stolen', value: 'x'})})"
        ".then(() => 'sent', e => 'refused')"
    ),
    "publish": (
        "fetch(CONSOLE + 'api/publish', {method: 'POST', mode: 'no-cors',"
        " body: JSON.stringify({channel: 'test', message: 'x'})})"
        ".then(() => 'sent', e => 'refused')"
    ),
    # the live events
    "events": (
        "new Promise(done => { const s = new EventSource(CONSOLE + 'api/events?token=' + TOKEN);"
        " s.onmessage = () => done('read'); s.addEventListener('snapshot', () => done('read'));"
        " s.onerror = () => { s.close(); done('refused'); }; })"
    ),
    # frame the page (clickjacking)
    "frame": (
        "new Promise(done => { const f = document.createElement('iframe'); f.src = CONSOLE;"
        " f.onload = () => { let text = null; try { text = f.contentDocument?.body?.innerText }"
        " catch (e) {} done(text && text.includes('Publish') ? 'read' : 'refused'); };"
        " document.body.append(f); })"
    ),
}


def test_a_page_of_another_loopback_origin_cannot_use_the_console(
    browser: tuple[Child, int],  # noqa: F811
    served: Served,
    other_origin: str,
) -> None:
    _, devtools_port = browser
    url = console_url(served)
    base = url.split("/.compute-emu")[0]
    token = re.search(r'name="console-token" content="([^"]+)"', httpx.get(url).text).group(1)  # type: ignore[union-attr]
    with CDPSession(page_websocket_url(devtools_port)) as page:
        page.navigate(other_origin)
        page.wait_until("document.title === 'elsewhere'")
        page.evaluate(f"window.CONSOLE = {js(url)}; window.TOKEN = {js(token)}")
        outcomes = {name: page.evaluate(attempt) for name, attempt in ATTEMPTS.items()}
    assert outcomes == {
        "read page": "refused",
        "read api": "refused",
        "write kv": "sent",  # the browser sent it blind...
        "write kv as text": "sent",
        "publish": "sent",
        "events": "refused",
        "frame": "refused",
    }
    # ...and the console refused it: nothing was written
    assert httpx.get(base + "/kv?key=stolen").status_code == 404
    keys = httpx.get(url + "api/kv?store=sessions", headers={"X-Console-Token": token}).json()
    assert keys["keys"] == ["seeded"]
