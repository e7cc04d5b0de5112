"""Which requests compute-emu's publish port passes on to Pushpin's publish API: pure rules.

Pushpin checks nothing, and every web page the developer opens can send a "simple"
cross-origin POST (``Content-Type: text/plain``, ``mode: "no-cors"``: no preflight) to a
loopback port. Browsers mark such requests; publishers (gripcontrol, @fanoutio/grip,
``compute-emu publish``, curl) send none of these marks. So, checked on the request head:

- ``Origin``: a browser sends it with every POST that is not a same-origin navigation, so a
  request carrying one is refused (403), unless it is one of the app's own origins
  (:class:`AppOrigins`): then the page is the developer's own app and may publish, and gets
  CORS answers (:func:`cors_headers`, :func:`preflight_headers`) so that it can read them.
  ``Origin: null`` (sandboxed frames, ``file:``, redirects) is refused.
- ``Sec-Fetch-Site``: without an ``Origin``, a browser request from another site (a
  navigation, an ``<img>`` or a no-cors GET) says ``cross-site`` or ``same-site``: refused;
  ``none`` (typed into the address bar) and ``same-origin`` pass.
- ``Host`` (DNS rebinding): the same :class:`~.admission.HostPolicy` as the app port, plus
  ``api.fastly.com`` (:func:`publish_host_policy`), checked by :class:`~.connection.Connection`
  before these rules.

The request target (:func:`route_target`): Pushpin's own API (``/publish/``, ``/``, ...) as it
is, and Fastly's publish API, ``POST /service/<service id>/publish/``, as Pushpin's
``/publish/``. That is also where GRIP publishers given Fastly's GRIP URL
(``https://api.fastly.com/service/<service id>``, a base) send their messages: they append
``/publish/``. So an app's production publishing code runs unchanged against this port. The
API token (``Fastly-Key``, or ``Authorization: Bearer``) is accepted and not checked: locally
there is no account; it is not passed on to Pushpin either (:data:`CREDENTIALS`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .admission import HostPolicy, Refusal, parse_authority

_ORIGIN = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*)://(?P<authority>[^/?#]*)", re.IGNORECASE)
_SERVICE = re.compile(r"/service/(?P<id>[^/?]*)(?P<rest>[^?]*)(?P<query>\?.*)?", re.DOTALL)
_SERVICE_ID = re.compile(r"[A-Za-z0-9]+")
SITE_ALLOWED = frozenset({b"none", b"same-origin"})
FASTLY_API_HOST = "api.fastly.com"  # production publish URLs name it; a local backend keeps it
CREDENTIALS = frozenset({"fastly-key", "authorization"})  # accepted, not checked, not passed on
PUBLISH_PATH = "/publish/"  # Pushpin's
PREFLIGHT_MAX_AGE = b"600"


@dataclass(frozen=True)
class AppOrigins:
    """The app's own origins: ``http://HOST:PORT`` with the app port, and a HOST the app
    serves as itself (a loopback name, its bound address or an ``--allow-host`` name;
    ``--allow-host '*'`` does not count: pages of any site must not publish)."""

    port: int
    hosts: HostPolicy = field(default_factory=HostPolicy)

    @classmethod
    def build(cls, port: int, names: Sequence[str]) -> AppOrigins:
        """For the app port and the names it serves besides loopback (``*`` is dropped)."""
        return cls(port, HostPolicy.build(n for n in names if n.strip() != "*"))

    def contains(self, origin: str) -> bool:
        """Whether the serialized origin (``http://127.0.0.1:7676``) is one of the app's."""
        match = _ORIGIN.fullmatch(origin)
        if match is None or match["scheme"].lower() != "http":
            return False
        authority = parse_authority(match["authority"])
        if authority is None:
            return False
        host, port = authority
        return (80 if port is None else port) == self.port and self.hosts.permits(host)


@dataclass(frozen=True)
class Admitted:
    """A request the publish port passes on; ``origin`` is the app origin it came from
    (CORS headers go back to it), or None for a request without ``Origin``."""

    origin: str | None = None

    @property
    def cors(self) -> bool:
        """Whether the response needs CORS headers (a page of the app's own origin)."""
        return self.origin is not None


def _values(headers: Sequence[tuple[str, bytes]], name: str) -> list[bytes]:
    return [value for n, value in headers if n.lower() == name]


def refused_origin_message(origin: str) -> str:
    """What a page of another origin is told (and what the developer can do instead)."""
    return (
        f"Refused: a request from a web page (Origin {origin}) may not publish.\n"
        "compute-emu's publish port takes requests from programs (gripcontrol, @fanoutio/grip, "
        "compute-emu publish, curl), which send no Origin header, and from pages of the "
        "app's own origin (http://localhost:PORT or http://127.0.0.1:PORT, the app's port); "
        "any other page could otherwise publish into your streams (cross-site request "
        "forgery). Publish from your server-side code, or through the app.\n"
    )


def check_publish(
    headers: Sequence[tuple[str, bytes]], app: AppOrigins | None
) -> Admitted | Refusal:
    """Admit or refuse one request to the publish port (``headers`` in any case)."""
    origins = _values(headers, "origin")
    if len(origins) > 1:
        return Refusal(403, "Refused: more than one Origin header.\n")
    if origins:
        origin = origins[0].decode("latin-1").strip()
        if app is not None and app.contains(origin):
            return Admitted(origin)
        return Refusal(403, refused_origin_message(origin))
    for site in _values(headers, "sec-fetch-site"):
        if site.strip().lower() not in SITE_ALLOWED:
            text = site.decode("latin-1").strip()
            return Refusal(
                403,
                f"Refused: a browser request from another site (Sec-Fetch-Site: {text}) "
                "may not reach the publish port.\n",
            )
    return Admitted()


def is_preflight(method: str, headers: Sequence[tuple[str, bytes]]) -> bool:
    """A CORS preflight (answered by compute-emu itself, never passed on)."""
    return method == "OPTIONS" and bool(_values(headers, "access-control-request-method"))


def cors_headers(origin: str) -> list[tuple[str, bytes]]:
    """The headers that let a page of ``origin`` (an app origin) read the response."""
    return [("access-control-allow-origin", origin.encode("latin-1")), ("vary", b"Origin")]


def preflight_headers(origin: str, headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The answer to an app origin's preflight: POST and GET, with the headers it asked for."""
    out = [
        *cors_headers(origin),
        ("access-control-allow-methods", b"POST, GET"),
        ("access-control-max-age", PREFLIGHT_MAX_AGE),
    ]
    asked = b", ".join(v.strip() for v in _values(headers, "access-control-request-headers"))
    if asked:
        out.append(("access-control-allow-headers", asked))
    if _values(headers, "access-control-request-private-network"):
        out.append(("access-control-allow-private-network", b"true"))
    return out


def publish_host_policy(app: HostPolicy) -> HostPolicy:
    """The Host names the publish port serves: the app's, and ``api.fastly.com`` (what an app's
    production publishing code sends through a backend pointed at this port). No page can be
    served from that name locally, so it opens nothing to DNS rebinding."""
    return HostPolicy(app.names | {FASTLY_API_HOST}, app.allow_all)


def route_target(target: str) -> str | Refusal:
    """The target to pass on to Pushpin's publish API for ``target``, or the answer.

    ``/service/<id>/publish/`` (Fastly's publish API, any alphanumeric service id, query kept)
    becomes ``/publish/``; other targets under ``/service/`` are answered here (404, saying
    what is served); any other target goes on as it is (Pushpin answers it).
    """
    match = _SERVICE.fullmatch(target)
    if match is None:
        return target
    service, rest, query = match["id"], match["rest"], match["query"] or ""
    if not _SERVICE_ID.fullmatch(service):
        return Refusal(
            404,
            f"Not Found: {target.split('?')[0]!r}: a Fastly service id is alphanumeric, as in "
            "POST /service/SU1Z0isxPaozGVKXdv0eY/publish/\n",
        )
    if rest == PUBLISH_PATH:
        return PUBLISH_PATH + query
    if rest == PUBLISH_PATH.rstrip("/"):
        return Refusal(
            404,
            f"Not Found: Fastly's publish API requires the trailing slash: "
            f"POST /service/{service}/publish/\n",
        )
    return Refusal(
        404,
        f"Not Found: compute-emu's publish port serves Fastly's publish API "
        f"(POST /service/{service}/publish/) and Pushpin's (POST /publish/), not the rest of "
        f"Fastly's API. A GRIP URL http://HOST:PORT/service/{service} is a base: GRIP "
        "publishers append /publish/ to it.\n",
    )
