"""Which requests the front door lets through to the app: pure rules, each with its answer.

Checked on the parsed request head before the app runs (no I/O here). The head's size (431),
at most one ``Host`` and the body's framing (both Content-Length and Transfer-Encoding among
them) are the parser's rules (``rules/http1_server.py``), checked first.
- the HTTP version: 1.0 and 1.1 only (an HTTP/2 preface, ``HTTP/9.9``): 505;
- the target: origin-form only (absolute-form and CONNECT would make us an open proxy; 400
  and 405); ``*`` only with OPTIONS, which the server answers itself;
- ``Host``: a valid authority (``host[:port]``, nothing after it: a Host with a path in it would
  be pasted into the URL the app sees): 400; and, against DNS rebinding, a name the developer
  allowed: loopback names, the bound address, the hosts fastly.toml names, ``--allow-host``: 403.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

# RFC 3986 reg-name (no percent-encoding) or IPv4; an IPv6 literal in brackets; then a port.
_AUTHORITY = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=]*)(?::(?P<port>[0-9]{0,5}))?"
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


@dataclass(frozen=True)
class Refusal:
    """The answer to a request the app never sees (the connection is closed after it)."""

    status: int
    message: str


def parse_authority(value: str) -> tuple[str, int | None] | None:
    """``"Example.com:80"`` -> ``("example.com", 80)``; None if it is not an authority."""
    match = _AUTHORITY.fullmatch(value)
    if match is None or not match["host"]:
        return None
    host = match["host"].lower()
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    port = match["port"]
    if port is not None and (not port or int(port) > 65535):
        return None
    return host, (int(port) if port else None)


def is_loopback_authority(value: str) -> bool:
    """Whether a ``Host`` value names this machine (``localhost``, ``*.localhost``,
    ``127.0.0.0/8``, ``[::1]``), whatever names the app port serves besides: compute-emu's own
    endpoints answer only these, so DNS rebinding cannot reach them."""
    authority = parse_authority(value)
    if authority is None:
        return False
    host = authority[0]
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


def is_loopback_peer(address: str) -> bool:
    """Whether the TCP peer ``address`` is on this machine."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    """The Host names served (DNS-rebinding guard, as Vite's ``allowedHosts``).

    ``names`` are exact host names (lower case, no port); a name starting with ``.`` allows
    its subdomains too (``.example.com``); ``allow_all`` turns the check off (``--allow-host
    '*'``). Loopback names (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``[::1]``) are
    always served.
    """

    names: frozenset[str] = frozenset()
    allow_all: bool = False

    @classmethod
    def build(cls, names: Iterable[str]) -> HostPolicy:
        """From ``--allow-host`` values and the names fastly.toml uses (``*``: anything)."""
        cleaned = {n.strip().lower() for n in names if n.strip()}
        return cls(frozenset(cleaned - {"*"}), "*" in cleaned)

    def permits(self, host: str) -> bool:
        """Whether a request for ``host`` (already parsed, no port) is served."""
        if self.allow_all or host in LOOPBACK_NAMES or host in self.names:
            return True
        if host == "localhost." or host.endswith((".localhost", ".localhost.")):
            return True
        try:
            if ipaddress.IPv4Address(host).is_loopback:
                return True
        except ValueError:
            pass
        return any(name.startswith(".") and host.endswith(name) for name in self.names)


def blocked_host_message(host: str) -> str:
    """What a refused Host is told, including how to allow it."""
    return (
        f"Blocked request: Host {host!r} is not allowed.\n"
        "compute-emu answers only loopback names, its own address and the hosts named in "
        "fastly.toml (a guard against DNS rebinding).\n"
        f"To allow this host: compute-emu serve --allow-host {host} "
        "(repeatable; --allow-host '*' allows any).\n"
    )


def check_request(
    method: bytes,
    target: bytes,
    version: bytes,
    headers: list[tuple[bytes, bytes]],
    policy: HostPolicy,
) -> Refusal | None:
    """Why the request must not reach the app, or None. ``headers`` with lower-case names,
    from a head the parser accepted (so at most one ``Host``)."""
    if version not in (b"1.1", b"1.0"):
        return Refusal(505, f"HTTP/{version.decode('ascii', 'replace')} is not supported\n")
    if method == b"CONNECT":
        return Refusal(405, "CONNECT is not supported by compute-emu\n")
    if target == b"*":
        if method != b"OPTIONS":
            return Refusal(400, "the request target * is only for OPTIONS\n")
    elif not target.startswith(b"/"):
        return Refusal(
            400, "absolute-form request targets are not accepted: compute-emu is not a proxy\n"
        )
    host = next((value for name, value in headers if name == b"host"), None)
    if host is not None:
        text = host.decode("latin-1")
        authority = parse_authority(text)
        if authority is None:
            return Refusal(400, f"invalid Host header {text!r}: expected host[:port]\n")
        if not policy.permits(authority[0]):
            return Refusal(403, blocked_host_message(authority[0]))
    return None
