"""An example GRIP origin for the fanout-forward starter: read it, then replace it with yours.

    python origin/app.py [--port 3000] [--publish-url http://127.0.0.1:5561]

The Compute app hands GET, HEAD and WebSocket requests through Fanout (Pushpin, locally) to this
server. It answers with GRIP instructions: "hold this connection open and subscribe it to a
channel". Publishing to a channel then pushes data to every connection held on it.

Routes (the channel is the query parameter `channel`, default "test"):
  /              HTML page: live SSE and WebSocket views, and a form to publish
  /stream        HTTP streaming (text/plain), subscribed to <channel>
  /events        Server-Sent Events, subscribed to <channel>-sse: SSE needs its own framing but
                 uses the same http-stream format as /stream, so it gets a channel of its own
  /poll          long-polling, subscribed to <channel>: answered by the next publish (or in 20 s)
  /ws            WebSocket-over-HTTP, subscribed to <channel>; echoes the client's text messages
  POST /publish  publishes `message` to `channel` (form or JSON fields) for all of the above

Requests that come through Fanout carry a Grip-Sig JWT. It is checked with the key and issuer
that `fastly compute serve` and compute-emu give Pushpin; set GRIP_KEY / GRIP_ISS to override.
(Production Fanout signs with ES256 and iss "fastly:<service id>": verify with Fastly's key.)
Needs Fanout's GRIP library: pip install gripcontrol
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

from gripcontrol import (
    GripPubControl,
    HttpResponseFormat,
    HttpStreamFormat,
    WebSocketEvent,
    WebSocketMessageFormat,
    create_grip_channel_header,
    decode_websocket_events,
    encode_websocket_events,
    validate_sig,
    websocket_control_message,
)
from pubcontrol import Item

GRIP_KEY = os.environ.get("GRIP_KEY", "viceroy_dev_signing_key_dont_use_in_production")
GRIP_ISS = os.environ.get("GRIP_ISS", "viceroy")
DEFAULT_CHANNEL = "test"
GRIP_ROUTES = ("/stream", "/events", "/poll", "/ws")  # these only make sense behind Fanout


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # send headers and body in one segment (no Nagle/delayed-ACK stalls)
    publisher: GripPubControl  # set in main()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        channel = parse_qs(url.query).get("channel", [DEFAULT_CHANNEL])[0]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if problem := self.grip_sig_problem(url.path):
            self.reply(403, problem)
        elif url.path == "/":
            self.reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        elif url.path == "/stream":
            self.reply(200, f"stream open on channel {channel}\n", hold("stream", channel))
        elif url.path == "/events":
            headers = hold("stream", channel + "-sse", "text/event-stream")
            headers["Grip-Keep-Alive"] = r":\n\n; format=cstring; timeout=20"  # SSE comment
            self.reply(200, f"event: subscribed\ndata: {channel}-sse\n\n", headers)
        elif url.path == "/poll":
            # Sent only if nothing is published within Grip-Timeout seconds.
            headers = {**hold("response", channel), "Grip-Timeout": "20"}
            self.reply(200, "no message yet\n", headers)
        elif url.path == "/ws":
            self.websocket(body, channel)
        elif url.path == "/publish" and self.command == "POST":
            self.publish(body)
        else:
            self.reply(404, "Not found\n")

    do_HEAD = do_POST = do_GET

    def grip_sig_problem(self, path: str) -> str | None:
        """Why this request must be refused, or None if it is fine."""
        token = self.headers.get("Grip-Sig")
        if token is None:
            if path in GRIP_ROUTES:  # GRIP instructions would reach the client, unheeded
                return (
                    f"{path} must be reached through Fanout: this request has no Grip-Sig "
                    "header, so no GRIP proxy forwarded it. Open it through the Compute app "
                    "(compute-emu serve, http://127.0.0.1:7676) instead of the origin.\n"
                )
            return None  # e.g. POST /publish, which the Compute app send()s directly
        if not validate_sig(token, GRIP_KEY, GRIP_ISS):
            return (
                "Grip-Sig is not valid: it must be a JWT signed with GRIP_KEY, with iss "
                f"{GRIP_ISS!r} and an unexpired exp. Give this origin the key and issuer the "
                "GRIP proxy signs with (compute-emu and fastly compute serve use iss 'viceroy' "
                "and key 'viceroy_dev_signing_key_dont_use_in_production').\n"
            )
        return None

    def websocket(self, body: bytes, channel: str) -> None:
        """WebSocket-over-HTTP: Pushpin POSTs the client's events, we answer with ours."""
        if self.headers.get("Content-Type") != "application/websocket-events":
            self.reply(400, "Not a WebSocket-over-HTTP request: connect with a WebSocket.\n")
            return
        out = []
        for event in decode_websocket_events(body):
            if event.type == "OPEN":  # accept, and subscribe with a control message
                out.append(WebSocketEvent("OPEN"))
                control = websocket_control_message("subscribe", {"channel": channel})
                out.append(WebSocketEvent("TEXT", "c:" + control))
            elif event.type == "TEXT":  # echo
                out.append(WebSocketEvent("TEXT", event.content))
            elif event.type == "CLOSE":  # close back (with the client's code)
                out.append(WebSocketEvent("CLOSE", event.content))
        headers = {
            "Content-Type": "application/websocket-events",
            # enable GRIP control messages ("c:..."); deliver all other messages as they are
            "Sec-WebSocket-Extensions": 'grip; message-prefix=""',
        }
        self.reply(200, encode_websocket_events(out), headers)

    def publish(self, body: bytes) -> None:
        """Publish `message` to `channel` in every format (and to `channel`-sse as SSE)."""
        is_json = "json" in self.headers.get("Content-Type", "")
        try:
            if is_json:
                fields = json.loads(body)
            else:
                fields = {name: values[0] for name, values in parse_qs(body.decode()).items()}
            channel = str(fields.get("channel") or DEFAULT_CHANNEL)
            message = str(fields["message"])
        except (ValueError, KeyError, AttributeError):
            self.reply(400, 'Send the fields "channel" and "message" (form or JSON).\n')
            return
        # Each subscriber receives the format that fits its transport.
        formats = [
            HttpStreamFormat(message + "\n"),  # /stream
            WebSocketMessageFormat(message),  # /ws
            HttpResponseFormat(headers={"Content-Type": "text/plain"}, body=message + "\n"),
        ]
        sse = "".join(f"data: {line}\n" for line in message.split("\n")) + "\n"  # /events
        try:
            self.publisher.publish(channel, Item(formats), blocking=True)
            self.publisher.publish(channel + "-sse", Item(HttpStreamFormat(sse)), blocking=True)
        except ValueError as exc:  # gripcontrol reports publish failures as ValueError
            self.reply(502, f"Could not publish (is Pushpin running?): {exc}\n")
            return
        if is_json or "application/json" in self.headers.get("Accept", ""):
            result = {"published": message, "channels": [channel, channel + "-sse"]}
            self.reply(200, json.dumps(result) + "\n", {"Content-Type": "application/json"})
        else:  # a plain form post: back to the page
            self.reply(303, "Published\n", {"Location": "/?channel=" + quote(channel)})

    def reply(self, status: int, body: str | bytes, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def hold(mode: str, channel: str, content_type: str = "text/plain") -> dict[str, str]:
    """GRIP headers: hold the connection ("stream" or "response") subscribed to `channel`."""
    channels = create_grip_channel_header(channel)
    return {"Content-Type": content_type, "Grip-Hold": mode, "Grip-Channel": channels}


PAGE = r"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Fanout forward starter</title><link rel="icon" href="data:,">
<style>
  body { font-family: system-ui, sans-serif; margin: 2em; max-width: 60em; }
  .logs { display: flex; gap: 1em; } .logs section { flex: 1; }
  pre { background: #f3f3f3; padding: .5em; min-height: 8em; white-space: pre-wrap; }
  .listens { font-size: .9em; color: #444; }
</style></head>
<body><h1>Fanout forward starter</h1>
<p id="status">connecting...</p>
<form id="publish-form" method="post" action="/publish">
  <input id="channel" name="channel" value="test" aria-label="channel">
  <input id="message" name="message" placeholder="message" aria-label="message" required>
  <button type="submit">Publish</button>
</form>
<p class="listens">The form publishes to both panels. From a terminal, each panel gets what is
published to its channel in its format (the defaults of <code>compute-emu publish</code> include
ws-message, so <code>compute-emu publish <span class="ch">test</span> "hi"</code> reaches the
WebSocket panel, <code>curl -N /stream</code> and <code>/poll</code>).</p>
<div class="logs">
  <section><h2>SSE (/events)</h2>
    <p class="listens" id="sse-listens">channel <code><span class="ch">test</span>-sse</code>,
      SSE events (http-stream format):
      <code>compute-emu publish <span class="ch">test</span>-sse "hi" --format sse</code></p>
    <pre id="sse-log"></pre></section>
  <section><h2>WebSocket (/ws)</h2>
    <p class="listens" id="ws-listens">channel <code><span class="ch">test</span></code>,
      ws-message format: <code>compute-emu publish <span class="ch">test</span> "hi"</code></p>
    <pre id="ws-log"></pre>
    <input id="ws-input" placeholder="text to echo" aria-label="text to echo">
    <button id="ws-send">Send</button></section>
</div>
<script>
const $ = (id) => document.getElementById(id);
const channel = new URLSearchParams(location.search).get("channel") || "test";
const state = { sse: "connecting", ws: "connecting" };
const show = () => { $("status").textContent = `SSE: ${state.sse}, WebSocket: ${state.ws}`; };
const log = (id, text) => { $(id).textContent += text + "\n"; };
$("channel").value = channel;
document.querySelectorAll(".ch").forEach((el) => { el.textContent = channel; });

// Both connections go to this page's own host: the Compute app hands them to Fanout.
const events = new EventSource("/events?channel=" + encodeURIComponent(channel));
events.onopen = () => { state.sse = "open"; show(); };
events.onerror = () => { state.sse = "reconnecting"; show(); };
events.onmessage = (e) => log("sse-log", e.data);

const scheme = location.protocol === "https:" ? "wss" : "ws";
const ws = new WebSocket(`${scheme}://${location.host}/ws?channel=${encodeURIComponent(channel)}`);
ws.onopen = () => { state.ws = "open"; show(); };
ws.onclose = () => { state.ws = "closed"; show(); };
ws.onmessage = (e) => log("ws-log", e.data);
$("ws-send").onclick = () => ws.send($("ws-input").value);

// Publish with fetch() so this page and its connections stay (the form works without JS too).
$("publish-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = new URLSearchParams(new FormData(e.target));
  const headers = { Accept: "application/json" };
  const r = await fetch("/publish", { method: "POST", body, headers });
  if (!r.ok) log("sse-log", `publish failed: ${r.status} ${await r.text()}`);
});
show();
</script></body></html>
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="Example GRIP origin for fanout-forward.")
    parser.add_argument("--port", type=int, default=3000, help="port (0: any free port)")
    parser.add_argument(
        "--publish-url", default="http://127.0.0.1:5561", help="Pushpin's publish API"
    )
    args = parser.parse_args()
    Handler.publisher = GripPubControl({"control_uri": args.publish_url})
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"Listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
