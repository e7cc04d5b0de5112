"""The SDK's host interface: every call ``compute_emu.sdk`` makes to the world outside the app.

One SDK, two hosts. The same SDK code runs

- natively under ``compute-emu serve``: ``main()`` runs on a worker thread and the native host
  (``compute_emu/runtime/``) carries each call out on the event loop;
- inside a Wasm component built by ``compute-emu build``: the Wasm host
  (``compute_emu/sdk/_wit_host.py``) turns each call into one or a few ``fastly:compute``
  imports (componentize-py's ``wit_world`` bindings).

What crosses is values, not SDK objects: requests, responses, backend descriptions, store
entries and cache objects are the frozen dataclasses below, of ``str``, ``bytes``, ``int`` and
tuples. Bodies cross as a :class:`BodyStream` (``read_chunk()``, read on demand, so a body the
app never touches is never held in memory) or a :class:`StreamSink` (``write``/``finish``).
Stores, ACLs, pending requests and cache lookups cross as opaque handles the host made and
only the host looks into (``Handle``).

Errors: a send raises the SDK's ``SendError`` (with its cause); every other call raises
:class:`HostError` with a ``kind`` from :data:`ERROR_KINDS`, which the SDK turns into its
Rust-named variants (``KVStoreError.ItemNotFound``, ``CacheError.LimitExceeded``, ...). A call a
host cannot carry out raises ``HostError("unsupported", <the call>)``, never silently.

Everything here is the standard library only: the Wasm path imports it on Wasm CPython, which
has no threads, sockets, ``ssl`` or ``resource``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Headers = tuple[tuple[str, bytes], ...]
"""Header fields in order, names as written, values as bytes; a name may repeat."""

Handle = object
"""A host-made token (a store, an ACL, a pending request, a cache lookup): opaque to the SDK."""

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HandoffKind = Literal["fanout", "websocket"]
StoreKind = Literal["kv", "config", "secret", "acl"]

ERROR_KINDS = frozenset(
    {
        "not_found",  # no such key/item (a missing store or ACL is ``None`` from ``*_open``)
        "invalid_argument",  # a value the host refuses (an empty name, a bad cursor, ...)
        "invalid_key",  # a KV or config store key that breaks the key rules
        "precondition_failed",  # a KV insert's mode ``add`` or generation did not hold
        "too_long",  # a value over the host's limit (config store values, keys)
        "limit_exceeded",  # a cache object over the cache's size
        "unsupported",  # this host cannot carry the call out
        "unexpected",  # anything else; ``detail`` says what
    }
)


class HostError(Exception):
    """A host call failed: ``kind`` (one of :data:`ERROR_KINDS`) and a human ``detail``."""

    def __init__(self, kind: str, detail: str = "") -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown host error kind {kind!r}")
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail


class BodyStream(Protocol):
    """A source of body bytes the host provides (or the SDK makes, e.g. a gunzipping view)."""

    def read_chunk(self) -> bytes:
        """The next chunk; ``b""`` at the end. Blocks the calling thread until data comes."""
        ...


class StreamSink(Protocol):
    """Where a body the app writes goes (a streamed client response, an upload, a cache
    insert). Writes go out as they happen; ``finish()`` ends the body cleanly."""

    finished: bool

    def write(self, data: bytes) -> None: ...

    def finish(self) -> None: ...


# -- HTTP --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BodyParts:
    """A body: ``prefix`` bytes already in memory, then ``stream`` (unread) if any."""

    prefix: bytes = b""
    stream: BodyStream | None = None

    def known_length(self) -> int | None:
        """The length when the whole body is in memory, else ``None``."""
        return len(self.prefix) if self.stream is None else None


@dataclass(frozen=True, slots=True)
class ClientRequestParts:
    """The client request, as ``Request.from_client()`` receives it (built once per request)."""

    method: str
    url: str  # absolute, e.g. http://127.0.0.1:7676/path?q (authority from the Host header)
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    headers: Headers  # in arrival order, names as the client sent them
    body: BodyStream | None  # None: the request has no body
    client_ip: IpAddress
    server_ip: IpAddress | None = None  # the local address the client connected to
    request_id: str = ""  # for get_client_request_id(), 32 hex digits


@dataclass(frozen=True, slots=True)
class Candidate:
    """A backend response before the readthrough cache stores it, as ``set_after_send``'s
    hook sees it and gives it back (the SDK's ``CandidateResponse`` is made from it)."""

    status: int
    headers: Headers
    cacheable: bool
    ttl: float  # seconds fresh, after ``age``
    age: float  # its age when it arrived (``Age``), seconds
    stale_while_revalidate: float
    surrogate_keys: tuple[str, ...]
    vary: tuple[str, ...]  # lowercase request header names
    pci: bool
    record_uncacheable: bool = False  # not cacheable, and recorded so (hit-for-pass) for ``ttl``


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """What a request asks of the readthrough cache (``set_pass``, ``set_ttl``, ...).

    The hooks take and give values: the SDK wraps the app's callable, making a ``Request`` (or
    ``CandidateResponse``) from the value and a value from what the app left. The host calls
    them on the app's side (a worker thread natively) with this request's host bound.
    """

    pass_: bool = False
    ttl: float | None = None
    stale_while_revalidate: float | None = None
    pci: bool = False
    surrogate_key: str | None = None  # space-separated keys
    cache_key: bytes | None = None  # instead of the URL and Host
    before_send: Callable[[OutgoingRequest], OutgoingRequest] | None = None
    after_send: Callable[[Candidate], Candidate] | None = None


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """A request the app sends to a backend (or hands off: then its body is not sent)."""

    method: str  # as given: methods are case-sensitive
    url: str  # absolute http(s) URL
    version: str  # "HTTP/1.1", ...
    headers: Headers
    body: BodyParts = field(default_factory=BodyParts)
    framing_from_headers: bool = False  # FramingHeadersMode.ManuallyFromHeaders
    cache: CacheOptions = field(default_factory=CacheOptions)


@dataclass(frozen=True, slots=True)
class BackendResponse:
    """What a backend answered: its head, and its body still on the wire."""

    status: int
    version: str
    headers: Headers
    body: BodyStream | None  # None: no body (a HEAD, a 204, a 304)
    backend: str  # the backend's name
    length: int | None = None  # the body's declared length, when known


@dataclass(frozen=True, slots=True)
class OutgoingResponse:
    """A response the app sends (or starts streaming) to its client."""

    status: int
    version: str
    headers: Headers
    body: BodyParts = field(default_factory=BodyParts)
    framing_from_headers: bool = False  # FramingHeadersMode.ManuallyFromHeaders
    keepalive: bool = True  # False: HttpKeepaliveMode.NoKeepalive


# -- backends ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BackendInfo:
    """A backend: from fastly.toml, or registered by the request (``Backend.builder``).

    ``options`` keeps the builder's connection options that a host may not act on
    (``min_tls``, ``http_keepalive_ms``, ``max_connections``, ...), as ``(name, value)`` pairs,
    so the getters report back what was set.
    """

    name: str
    host: str
    port: int
    use_ssl: bool
    path_prefix: str = ""
    override_host: str | None = None
    cert_host: str | None = None
    sni_hostname: str | None = None
    use_sni: bool = True
    ca_certificates: tuple[str, ...] = ()
    connect_timeout_ms: int | None = None
    first_byte_timeout_ms: int | None = None
    between_bytes_timeout_ms: int | None = None
    health: Literal["unknown", "healthy", "unhealthy"] = "unknown"
    dynamic: bool = False
    options: tuple[tuple[str, object], ...] = ()


# -- stores and lookups ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KvEntry:
    """A KV store value, whole."""

    body: bytes
    metadata: str | None
    generation: int


@dataclass(frozen=True, slots=True)
class KvInsert:
    """How ``kv_insert`` writes: ``mode`` is overwrite, add, append or prepend."""

    mode: Literal["overwrite", "add", "append", "prepend"] = "overwrite"
    metadata: str | None = None
    if_generation_match: int | None = None
    ttl: float | None = None  # seconds
    background_fetch: bool = False


@dataclass(frozen=True, slots=True)
class KvPage:
    """One page of ``kv_list``."""

    keys: tuple[str, ...]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AclMatch:
    """The most specific ACL entry that matched an address."""

    prefix: str  # e.g. "192.168.0.0/16"
    action: Literal["ALLOW", "BLOCK"]


# -- the Core cache ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CacheWrite:
    """What an insert or update says about a cached object (``core.insert(...)`` builders)."""

    ttl: float  # seconds
    request_headers: Headers = ()  # for the vary_by variant
    vary: tuple[str, ...] = ()  # lowercase header names
    initial_age: float = 0.0
    stale_while_revalidate: float = 0.0
    surrogate_keys: tuple[str, ...] = ()
    user_metadata: bytes = b""
    sensitive: bool = False
    length: int | None = None  # known length of the body to come


@dataclass(frozen=True, slots=True)
class CacheState:
    """What a lookup found, and what its transaction must do."""

    found: bool
    usable: bool  # fresh, or stale within stale-while-revalidate
    stale: bool
    must_insert_or_update: bool  # this transaction owns the key's fetch


@dataclass(frozen=True, slots=True)
class CachedObject:
    """A cached object's facts, as ``Found`` reports them (the body is read apart)."""

    age: float
    max_age: float
    stale_while_revalidate: float
    hits: int
    length: int | None  # None until the body is complete
    user_metadata: bytes
    surrogate_keys: tuple[str, ...]
    vary: tuple[str, ...]
    sensitive: bool


class Host(Protocol):
    """What the SDK needs from whatever runs the app. Every method blocks the calling (app)
    thread until it is done; none returns an object of the SDK's own."""

    # -- the client request and its answer -------------------------------------------------
    def take_client_request(self) -> ClientRequestParts:
        """The client request; ``RuntimeError`` on a second call."""
        ...

    def send_to_client(self, response: OutgoingResponse) -> None:
        """Send the response downstream; ``RuntimeError`` if the request was already
        answered or handed off."""
        ...

    def stream_to_client(self, response: OutgoingResponse) -> StreamSink:
        """Send the head (and ``response.body``) now; the rest follows through the sink."""
        ...

    def handoff(self, request: OutgoingRequest, backend: str, kind: HandoffKind) -> None:
        """Hand the client connection off: Fanout (through Pushpin) or WebSocket passthrough.
        ``request`` gives the method, URL and headers; the client's original body is sent."""
        ...

    # -- backends --------------------------------------------------------------------------
    def send(self, request: OutgoingRequest, backend: str) -> BackendResponse:
        """Send (through the readthrough cache) and wait for the head; raises ``SendError``."""
        ...

    def send_async(self, request: OutgoingRequest, backend: str) -> Handle:
        """Start sending and return at once; an unknown backend raises ``SendError`` now."""
        ...

    def send_async_streaming(
        self, request: OutgoingRequest, backend: str
    ) -> tuple[StreamSink, Handle]:
        """Start sending ``request.body`` followed by what the app writes to the sink."""
        ...

    def pending_ready(self, pending: Handle) -> bool:
        """Whether ``wait_pending`` would return without blocking."""
        ...

    def wait_pending(self, pending: Handle) -> BackendResponse:
        """The response of a started request; raises ``SendError``."""
        ...

    def select(self, pending: Sequence[Handle]) -> int:
        """The index of the first of ``pending`` that is done (waits for one)."""
        ...

    def backend(self, name: str) -> BackendInfo | None:
        """A backend from fastly.toml or one this request registered; ``None`` if none."""
        ...

    def register_backend(self, backend: BackendInfo) -> bool:
        """Add a dynamic backend for the rest of the request; ``False`` if the name is taken."""
        ...

    # -- logs ------------------------------------------------------------------------------
    def log_write(self, endpoint: str, line: str) -> None:
        """One line to a named log endpoint (already escaped: no newline in it)."""
        ...

    # -- KV, config and secret stores, ACLs ------------------------------------------------
    def kv_open(self, name: str) -> Handle | None:
        """A KV store by name; ``None`` if there is none (the host says which there are)."""
        ...

    def kv_lookup(self, store: Handle, key: str) -> KvEntry | None:
        """The value of ``key``; ``None`` if it is missing."""
        ...

    def kv_insert(self, store: Handle, key: str, value: bytes, options: KvInsert) -> None:
        """Write ``value`` under ``key``."""
        ...

    def kv_delete(self, store: Handle, key: str) -> bool:
        """Remove ``key``; ``False`` if it was missing."""
        ...

    def kv_list(
        self, store: Handle, prefix: str | None, cursor: str | None, limit: int | None
    ) -> KvPage:
        """One page of keys, from ``cursor`` on."""
        ...

    def config_store_open(self, name: str) -> Handle | None:
        """A config store (or legacy dictionary) by name; ``None`` if there is none."""
        ...

    def config_store_get(self, store: Handle, key: str) -> str | None:
        """A config store value; ``None`` if the key is missing."""
        ...

    def secret_store_open(self, name: str) -> Handle | None:
        """A secret store by name; ``None`` if there is none."""
        ...

    def secret_store_get(self, store: Handle, name: str) -> bytes | None:
        """A secret's plaintext; ``None`` if there is no such secret."""
        ...

    def acl_open(self, name: str) -> Handle | None:
        """An ACL by name; ``None`` if there is none."""
        ...

    def acl_lookup(self, acl: Handle, ip: IpAddress) -> AclMatch | None:
        """The most specific entry matching ``ip``; ``None`` if none does."""
        ...

    def store_names(self, kind: StoreKind) -> tuple[str, ...] | None:
        """The names of the stores (or ACLs) of ``kind`` there are, sorted, for the message of a
        failed open; ``None`` if this host cannot list them."""
        ...

    # -- lookups about the client ------------------------------------------------------------
    def geo_lookup(self, ip: IpAddress) -> dict[str, object] | None:
        """Geolocation data for ``ip`` (Fastly's JSON field names); ``None`` if unknown."""
        ...

    def device_lookup(self, user_agent: str) -> dict[str, object] | None:
        """Device detection data for a User-Agent (Fastly's JSON); ``None`` if unknown."""
        ...

    def fastly_key_is_valid(self, key: str | None) -> bool:
        """Whether the client request's ``Fastly-Key`` (``key``) is a valid API token."""
        ...

    # -- edge rate limiting ------------------------------------------------------------------
    def erl_increment(self, counter: str, entry: str, delta: int) -> None:
        """Add ``delta`` events for ``entry`` to a rate counter."""
        ...

    def erl_rate(self, counter: str, entry: str, window: int) -> int:
        """Events per second for ``entry`` over the last ``window`` seconds (1, 10 or 60)."""
        ...

    def erl_count(self, counter: str, entry: str, duration: int) -> int:
        """Events for ``entry`` over the last ``duration`` seconds (10 to 60)."""
        ...

    def penaltybox_add(self, box: str, entry: str, ttl: float) -> None:
        """Put ``entry`` in a penalty box for ``ttl`` seconds (rounded to whole minutes)."""
        ...

    def penaltybox_has(self, box: str, entry: str) -> bool:
        """Whether ``entry`` is in the penalty box."""
        ...

    def erl_check_rate(
        self,
        counter: str,
        entry: str,
        delta: int,
        window: int,
        limit: int,
        box: str,
        ttl: float,
    ) -> bool:
        """Count ``delta`` events; ``True`` (blocked) if ``entry`` is in the box or now over
        ``limit`` per second over ``window`` (then it goes in the box for ``ttl``)."""
        ...

    # -- the Core cache and purging ------------------------------------------------------------
    def cache_lookup(self, key: bytes, request_headers: Headers, transaction: bool) -> Handle:
        """Look ``key`` up. With ``transaction`` the lookup may own the key's fetch (see
        :meth:`cache_state`): others looking the key up wait for it (request collapsing)."""
        ...

    def cache_state(self, lookup: Handle) -> CacheState:
        """What a lookup found."""
        ...

    def cache_object(self, lookup: Handle) -> CachedObject | None:
        """The found object's facts; ``None`` if nothing was found."""
        ...

    def cache_body(self, lookup: Handle, start: int, end: int | None) -> BodyStream:
        """The found object's body from ``start`` to ``end`` (exclusive; ``None``: its end);
        it streams while the object is still being written."""
        ...

    def cache_insert(self, key: bytes, options: CacheWrite) -> StreamSink:
        """Insert an object outside any transaction; its body is what is written to the sink."""
        ...

    def cache_transaction_insert(
        self, lookup: Handle, options: CacheWrite, stream_back: bool
    ) -> tuple[StreamSink, Handle | None]:
        """Insert for a transaction that must insert; with ``stream_back`` also a lookup of the
        new object, to read it as it is written."""
        ...

    def cache_transaction_update(self, lookup: Handle, options: CacheWrite) -> None:
        """Refresh a found object's facts (its body is kept)."""
        ...

    def cache_transaction_cancel(self, lookup: Handle) -> None:
        """Give up this transaction's obligation to insert: the next waiter gets it."""
        ...

    def cache_close(self, lookup: Handle) -> None:
        """The SDK is done with a lookup (an unfinished obligation is given up)."""
        ...

    def purge_surrogate_key(self, key: str, soft: bool) -> None:
        """Remove (``soft``: mark stale) every cached object tagged ``key``."""
        ...

    # -- the instance ----------------------------------------------------------------------------
    def vcpu_ms(self) -> int:
        """CPU milliseconds this instance has used."""
        ...

    def heap_mib(self) -> int:
        """Memory in use by this instance, MiB rounded up."""
        ...

    def sandbox_id(self) -> str:
        """This instance's id (32 hex digits)."""
        ...
