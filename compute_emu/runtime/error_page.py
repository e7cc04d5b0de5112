"""The 500 page a browser gets from a loopback address when ``main()`` raised.

The app's own frames come first, each with its source line, highlighted; compute-emu's frames
follow, folded; then the request that caused it. Everything is escaped; the page loads nothing.
Other loopback clients get the plain-text traceback, other addresses a bare "Internal Server
Error" (:func:`error_body`).
"""

from __future__ import annotations

import html
import ipaddress
import linecache
import traceback
from pathlib import Path

from ..errors import AppLoadError
from .app_errors import frames, is_ours, message, plain_text

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.3em;color:#b00020;margin:0 0 .2em}
.msg{font:15px ui-monospace,monospace;white-space:pre-wrap;background:#fff3f3;
padding:.8em;border-left:4px solid #b00020}
.frame{margin:.6em 0;padding:.4em .8em;border-radius:4px;background:#f6f6f6}
.frame.app{background:#fff8d6;border-left:4px solid #e0a800}
.where{font:12px ui-monospace,monospace;color:#555}
pre{margin:.2em 0;font:13px ui-monospace,monospace;white-space:pre-wrap}
table{border-collapse:collapse;font:13px ui-monospace,monospace}
td{padding:.1em .8em .1em 0;vertical-align:top}
summary{cursor:pointer;color:#555}
"""


def _frame_html(frame: traceback.FrameSummary, app: bool) -> str:
    line = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
    where = f"{frame.filename}, line {frame.lineno}, in {frame.name}"
    kind = "frame app" if app else "frame"
    return (
        f'<div class="{kind}"><div class="where">{html.escape(where)}</div>'
        f"<pre>{html.escape(line)}</pre></div>"
    )


def error_page(
    error: BaseException,
    app_file: Path,
    method: str,
    target: str,
    headers: list[tuple[str, bytes]],
) -> str:
    """The HTML page for ``error``, raised while handling ``method target``."""
    parts = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>500: {html.escape(type(error).__name__)}</title><style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>main() raised {html.escape(type(error).__name__)}</h1>",
        f'<div class="msg">{html.escape(message(error))}</div>',
    ]
    if not isinstance(error, AppLoadError):
        every = frames(error, app_file, verbose=True).shown
        app = [f for f in every if not is_ours(f.filename)]
        ours = [f for f in every if is_ours(f.filename)]
        parts.append("<h2>The app's frames</h2>")
        parts += [_frame_html(f, True) for f in reversed(app)]  # innermost first
        if ours:
            parts.append(f"<details><summary>{len(ours)} compute-emu frames</summary>")
            parts += [_frame_html(f, False) for f in reversed(ours)]
            parts.append("</details>")
    parts.append(f"<h2>The request</h2><pre>{html.escape(method)} {html.escape(target)}</pre>")
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(value.decode('latin-1'))}</td></tr>"
        for name, value in headers
    )
    parts.append(f"<table>{rows}</table>")
    parts.append("<p><small>Shown to loopback clients only, by compute-emu.</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _wants_html(headers: list[tuple[str, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == "accept" and b"text/html" in value.lower():
            return True
    return False


def error_body(
    error: BaseException,
    app_file: Path,
    peer: str,
    method: str,
    target: str,
    headers: list[tuple[str, bytes]],
    verbose: bool = False,
) -> tuple[str, str]:
    """(content type, body) of the 500 for ``error``, by who asked (``peer``: its address)."""
    if not ipaddress.ip_address(peer).is_loopback:
        return "text/plain; charset=utf-8", "Internal Server Error\n"
    if _wants_html(headers):
        return "text/html; charset=utf-8", error_page(error, app_file, method, target, headers)
    return "text/plain; charset=utf-8", plain_text(error, app_file, verbose) + "\n"
