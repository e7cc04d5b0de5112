"""Which requests the console answers: pure rules on the request head, each with its answer.

The console lives on the app port, where any web page the developer opens can send requests
(a cross-origin ``fetch`` in ``no-cors`` mode, a form, an ``<img>``), and where a DNS
rebinding page can pose as the same origin. So (CVE-2023-7080, CVE-2025-24010, CVE-2024-28224
are of this class):

- the peer must be on this machine, and the ``Host`` a loopback name (``localhost``,
  ``*.localhost``, ``127.0.0.0/8``, ``[::1]``), whatever ``--allow-host`` says: a rebinding
  name is refused (403);
- an ``Origin`` header, when a browser sends one, must be the console's own origin
  (``http://`` and the request's ``Host``): another port or name of this machine is another
  origin, and is refused (403); so is ``Origin: null``;
- ``Sec-Fetch-Site`` (sent by browsers): the API and the page's files answer ``same-origin``
  (and ``none``, an address typed in, for reads); the page itself may also be *navigated* to
  from anywhere (a link), since a navigation cannot read it;
- every API request carries the per-run token the page was served with, in the
  ``X-Console-Token`` header (the ``token`` query parameter is accepted for GET, which is what
  ``EventSource`` and links can send): a page that cannot read the console cannot know it, and
  a cross-origin request with the header needs a preflight, which is never granted;
- writes are ``POST`` with a JSON body (``Content-Type: application/json``, which no HTML
  form can send).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from ..server.admission import Refusal, is_loopback_authority, is_loopback_peer

PREFIX = "/.compute-emu/console"
TOKEN_HEADER = "x-console-token"
ASSETS = frozenset(
    {"console.css", "console.js", "dom.js", "requests.js", "held.js", "stores.js", "cache.js"}
)

Kind = Literal["page", "asset", "api", "redirect"]


@dataclass(frozen=True)
class ConsoleRequest:
    """An admitted console request: what it is and where (``name``: the asset's file name or
    the API path after ``api/``), with its query."""

    kind: Kind
    name: str
    query: dict[str, list[str]]

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


def is_console_path(target: str) -> bool:
    """Whether ``target`` is the console's (checked before anything else answers it)."""
    return target == PREFIX or target.startswith((PREFIX + "/", PREFIX + "?"))


def _refuse(message: str) -> Refusal:
    return Refusal(403, f"compute-emu console: {message}\n")


def _classify(path: str) -> tuple[Kind, str] | None:
    if path == PREFIX:
        return "redirect", ""
    rest = path[len(PREFIX) + 1 :]
    if rest in ("", "index.html"):
        return "page", ""
    if rest in ASSETS:
        return "asset", rest
    if rest.startswith("api/") and len(rest) > 4:
        return "api", rest[4:]
    return None


def check_console(
    method: str,
    target: str,
    headers: list[tuple[str, bytes]],
    peer: str,
    token: str,
) -> ConsoleRequest | Refusal:
    """The console request ``target`` is, or why it is refused (``token``: this run's)."""
    names: dict[str, bytes] = {}
    for name, value in headers:
        names.setdefault(name.lower(), value)
    if not is_loopback_peer(peer):
        return _refuse("answered for this machine only")
    host = names.get("host", b"").decode("latin-1")
    if not is_loopback_authority(host):
        return _refuse(
            "needs a loopback Host (localhost, 127.0.0.1, [::1]); open it as "
            "http://127.0.0.1:PORT/.compute-emu/console/"
        )
    origin = names.get("origin")
    if origin is not None and origin.decode("latin-1").lower() != f"http://{host.lower()}":
        return _refuse(
            f"requests from the page of another origin are refused (Origin: "
            f"{origin.decode('latin-1')})"
        )
    parts = urlsplit(target)
    found = _classify(parts.path)
    if found is None:
        return Refusal(404, f"compute-emu console: no such path {parts.path!r}\n")
    kind, name = found
    query = parse_qs(parts.query, keep_blank_values=True)
    request = ConsoleRequest(kind, name, query)
    reading = method in ("GET", "HEAD")
    site = names.get("sec-fetch-site", b"").lower()
    navigation = names.get("sec-fetch-mode", b"").lower() == b"navigate"
    if kind in ("page", "redirect"):
        if not reading:
            return Refusal(405, f"compute-emu console: use GET for {parts.path}\n")
        if site not in (b"", b"none", b"same-origin") and not navigation:
            return _refuse(
                f"the page is not served to other sites (Sec-Fetch-Site: {site.decode('latin-1')})"
            )
        return request
    if site not in (b"", b"same-origin") and not (reading and site == b"none"):
        return _refuse(f"not served to other sites (Sec-Fetch-Site: {site.decode('latin-1')})")
    if kind == "asset":
        if not reading:
            return Refusal(405, f"compute-emu console: use GET for {parts.path}\n")
        return request
    given = names.get(TOKEN_HEADER, b"").decode("latin-1")
    if not given and reading:
        given = request.arg("token") or ""
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return _refuse("missing or wrong console token (reload the console page)")
    if method not in ("GET", "HEAD", "POST"):
        return Refusal(405, f"compute-emu console: {method} is not used by the console API\n")
    if method == "POST":
        kind_header = names.get("content-type", b"").split(b";")[0].strip().lower()
        if kind_header != b"application/json":
            return Refusal(415, "compute-emu console: send JSON (Content-Type: application/json)\n")
    return request
