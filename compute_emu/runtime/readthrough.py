"""The readthrough HTTP cache in front of ``Request.send()``/``send_async()`` (on the loop).

For a GET or HEAD that is not a pass: look the request up (its cache key, then its Vary
variant). A fresh object is a HIT (served from memory with its ``Age``); a stale one within
``stale-while-revalidate`` is served as STALE while one background fetch refreshes it; a
fetch already under way for the key is waited for (request collapsing); otherwise the request
goes to the backend (MISS). A MISS the rules (and the after-send hook) call cacheable is
copied into the cache as the app reads it, and becomes a HIT once its body is complete; a
fetch that fails or is not read to its end stores nothing. A HEAD miss fetches the GET (read
into the cache in the background) and gives the app its head. Anything else is a PASS.

The app's hooks (``set_before_send``/``set_after_send``) run on a worker thread with the
request's host bound, never on the loop.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ..cache import freshness
from ..cache.store import CachedBody, CacheStore, Entry, HttpMeta, Obligation
from ..log import AppOutput
from ..manifest import BackendConfig
from ..rules.framing import FRAMING, HOP_BY_HOP
from ..sdk._cache_knobs import CandidateResponse
from ..sdk._errors import SendError
from ..sdk._host import bind_host
from ..sdk._request import Request
from .send import BackendCall, open_backend_call

if TYPE_CHECKING:
    from .host import RequestHost

COLLAPSE_WAIT = 15.0  # seconds (see _collapse_wait)
_NOT_STORED = HOP_BY_HOP | FRAMING | freshness.STRIPPED | {"age"}


class CachedCall(BackendCall):
    """A response served from the cache: same face as a backend call, body from memory."""

    def __init__(self, host: RequestHost, entry: Entry, backend: BackendConfig, head: bool) -> None:
        assert entry.meta is not None
        store: CacheStore = host.services.cache
        self.services = host.services
        self.backend = backend
        self.status = entry.meta.status
        age = int(entry.age(store.now()))
        length = [("content-length", str(entry.body.size).encode())] if entry.body.complete else []
        self.headers = [*entry.meta.headers, *length, ("age", str(age).encode())]
        self.sink = None
        self._body = CachedBody(b"") if head else entry.body
        self.length = entry.body.size if entry.body.complete else None
        self._index = 0

    async def _read(self) -> bytes:
        chunk = await self._body.chunk(self._index)
        self._index += 1
        return chunk

    async def aclose(self) -> None:
        """Nothing to close."""


class _Filler:
    """Copies a MISS's body into a new cache object; stores it when complete."""

    def __init__(self, store: CacheStore, entry: Entry, key: bytes, obligation: Obligation):
        self.store = store
        self.entry = entry
        self.key = key
        self.obligation = obligation

    def feed(self, chunk: bytes) -> None:
        body = self.entry.body
        if chunk:
            body.append(chunk)
            if not self.store.fits(body.size):
                self.abort()
            return
        body.finish()
        self.entry.stored_at = self.store.now()
        self.store.insert(self.entry)
        self.store.end(self.key, self.obligation, "stored")

    def abort(self) -> None:
        self.entry.body.fail()
        self.store.end(self.key, self.obligation, "failed")


def _collapse_wait(config: BackendConfig) -> float:
    """How long a request waits for another's fetch of its key: the backend's first-byte
    timeout (Fastly's default, 15 s, when fastly.toml sets none)."""
    ms = config.first_byte_timeout_ms
    return COLLAPSE_WAIT if ms is None else ms / 1000


def _tag(host: RequestHost, note: int | None, tag: str) -> None:
    if note is not None and note < len(host.notes):
        host.notes[note] = f"{host.notes[note]} {tag}"


async def _hook(host: RequestHost, hook: Callable[[Any], object], arg: object) -> None:
    """Run an app hook on a worker thread with the request's host bound."""

    def run() -> None:
        AppOutput.bind(host.services.log, host.request_id)  # its prints go with its request
        try:
            with bind_host(host):
                hook(arg)
        finally:
            AppOutput.bind(None)

    await anyio.to_thread.run_sync(run)


async def _fetch(
    host: RequestHost, config: BackendConfig, request: Request, context: ssl.SSLContext | None
) -> BackendCall:
    hook = request._cache_override.get("before_send")
    if hook is not None:
        await _hook(host, hook, request)
    return await open_backend_call(host.services, config, request, context)


async def cached_send(
    host: RequestHost,
    config: BackendConfig,
    request: Request,
    context: ssl.SSLContext | None,
    note: int | None = None,
) -> BackendCall:
    """``request`` through the readthrough cache; tags the log note HIT/MISS/STALE/PASS."""
    services = host.services
    store: CacheStore = services.cache
    knobs = request._cache_override
    method = request.get_method()
    if not services.readthrough:
        return await open_backend_call(services, config, request, context)
    if method not in freshness.LOOKUP_METHODS:  # never looked up: no tag
        call = await _fetch(host, config, request, context)
        call.headers = freshness.app_headers(call.headers)
        return call
    if knobs.get("pass"):
        _tag(host, note, "PASS")
        call = await _fetch(host, config, request, context)
        call.headers = freshness.app_headers(call.headers)
        return call
    key = knobs.get("cache_key")
    key = (
        b"http:key:" + key
        if key
        else freshness.http_cache_key(request.get_url_str(), request.get_header("host"))
    )
    headers = request._headers.items()
    while True:
        entry = store.lookup(key, headers)
        now = store.now()
        if entry is not None and entry.meta is not None and entry.is_fresh(now):
            entry.hits += 1
            _tag(host, note, "HIT")
            return CachedCall(host, entry, config, method == "HEAD")
        if entry is not None and entry.meta is not None and entry.within_swr(now):
            if store.obligation(key) is None:
                obligation = store.begin(key)
                fresh = request.clone_without_body()
                store.spawn(_revalidate(host, config, fresh, context, key, obligation, entry))
            entry.hits += 1
            _tag(host, note, "STALE")
            return CachedCall(host, entry, config, method == "HEAD")
        pending = store.obligation(key)
        if pending is None:
            break
        # Collapsing: wait for the fetch under way. Not for one of this request's own (its
        # body is read only when the app reads it: the app would wait for itself), and not
        # for ever (a backend that is this server again, for the same key, would wait for
        # itself too): after COLLAPSE_WAIT the request goes to the backend on its own.
        outcome = None
        if pending.owner is not host:
            outcome = await pending.wait(_collapse_wait(config))
        if outcome in (None, "uncacheable"):
            _tag(host, note, "PASS" if outcome else "MISS")
            call = await _fetch(host, config, request, context)
            call.headers = freshness.app_headers(call.headers)
            return call
    stale = entry if entry is not None and entry.meta is not None else None
    head = method == "HEAD"
    if head:  # a HEAD miss fetches the GET, to fill the cache (the app gets no body)
        request = request.clone_without_body()
        request.set_method("GET")
    obligation = store.begin(key, owner=host)
    try:
        call = await _fetch(host, config, request, context)
    except BaseException as exc:
        store.end(key, obligation, "failed")
        if isinstance(exc, SendError) and stale is not None and stale.within_sie(store.now()):
            _tag(host, note, "STALE")
            return CachedCall(host, stale, config, head)
        _tag(host, note, "MISS")
        raise
    if call.status >= 500 and stale is not None and stale.within_sie(store.now()):
        await call.aclose()
        store.end(key, obligation, "failed")
        _tag(host, note, "STALE")
        return CachedCall(host, stale, config, head)
    _tag(host, note, "MISS")
    try:
        entry = await _candidate(host, store, key, request, call)
    except BaseException:
        store.end(key, obligation, "failed")
        await call.aclose()
        raise
    if entry is None or (call.length is not None and not store.fits(call.length)):
        store.end(key, obligation, "uncacheable")  # too big: served, not stored
        if head:
            await call.aclose()
            return _HeadView(call)
        return call
    call.sink = _Filler(store, entry, key, obligation)
    if head:
        store.spawn(_drain(call))
        return _HeadView(call)
    return call


class _HeadView(BackendCall):
    """What a HEAD miss gives the app: the GET's status and headers, no body."""

    def __init__(self, call: BackendCall) -> None:
        self.services = call.services
        self.backend = call.backend
        self.status = call.status
        self.headers = call.headers
        self.sink = None
        self.length = call.length

    async def _read(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        """Nothing to close (the GET is read by :func:`_drain`)."""


async def _drain(call: BackendCall) -> None:
    """Read a HEAD miss's GET body into the cache, in the background."""
    try:
        await call.read_all()
    except Exception:
        pass  # the sink abandoned the object
    finally:
        await call.aclose()


async def _candidate(
    host: RequestHost, store: CacheStore, key: bytes, request: Request, call: BackendCall
) -> Entry | None:
    """Apply the rules, the request's knobs and the after-send hook to a backend response:
    the entry to fill (its body still empty), or None if it is not to be stored. The call's
    status and headers become what the hook left (Surrogate-Control removed)."""
    knobs = request._cache_override
    verdict = freshness.analyse(call.status, call.headers, time.time())
    keys = set(verdict.surrogate_keys)
    keys.update(str(knobs.get("surrogate_key") or "").split())
    ttl = float(knobs["ttl"]) if "ttl" in knobs else verdict.ttl
    swr = knobs.get("stale_while_revalidate", verdict.stale_while_revalidate)
    candidate = CandidateResponse(
        call.status,
        call.headers,
        cacheable=verdict.storable,
        ttl=ttl,
        age=verdict.age,
        stale_while_revalidate=float(swr),
        surrogate_keys=sorted(keys),
        vary=verdict.vary,
        pci=bool(knobs.get("pci")),
    )
    hook = knobs.get("after_send")
    if hook is not None:
        await _hook(host, hook, candidate)
    call.status = candidate._status
    call.headers = freshness.app_headers(candidate._headers.items())
    if not candidate.is_cacheable():
        return None
    vary = tuple(candidate.get_vary())
    stored = tuple((n, v) for n, v in call.headers if n.lower() not in _NOT_STORED)
    return Entry(
        key=key,
        body=CachedBody(),
        stored_at=store.now(),
        max_age=candidate.get_ttl(),
        initial_age=verdict.age,
        stale_while_revalidate=candidate.get_stale_while_revalidate(),
        stale_if_error=verdict.stale_if_error,
        vary=vary,
        variant=freshness.variant(vary, request._headers.items()),
        surrogate_keys=frozenset(candidate.get_surrogate_keys()),
        sensitive=candidate.get_pci(),
        meta=HttpMeta(candidate.get_status(), stored),
        label=request.get_url_str(),
    )


async def _revalidate(
    host: RequestHost,
    config: BackendConfig,
    request: Request,
    context: ssl.SSLContext | None,
    key: bytes,
    obligation: Obligation,
    stale: Entry,
) -> None:
    """Refresh a stale object in the background (stale-while-revalidate). With an ``ETag``
    or ``Last-Modified`` the request is conditional, and a 304 keeps the stored body with
    the new freshness."""
    store: CacheStore = host.services.cache
    assert stale.meta is not None
    for name, value in freshness.validators(stale.meta.headers):
        request.set_header(name, value)
    try:
        call = await _fetch(host, config, request, context)
    except Exception:
        store.end(key, obligation, "failed")
        return
    try:
        not_modified = call.status == 304
        if not_modified:
            call.status = stale.meta.status
            call.headers = freshness.refreshed(stale.meta.headers, call.headers)
        entry = await _candidate(host, store, key, request, call)
        if entry is None or call.status >= 500:
            store.end(key, obligation, "uncacheable")
            return
        entry.body = stale.body if not_modified else CachedBody(await call.read_all())
        entry.stored_at = store.now()
        store.insert(entry)
        store.end(key, obligation, "stored")
    except Exception:
        store.end(key, obligation, "failed")
    finally:
        await call.aclose()
