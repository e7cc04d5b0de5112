"""The readthrough HTTP cache in front of ``Request.send()``/``send_async()`` (on the loop).

For a GET or HEAD that is not a pass: look the request up (its cache key, then its Vary
variant). A fresh object is a HIT (served from memory with its ``Age``); a stale one within
``stale-while-revalidate`` is served as STALE while one background fetch refreshes it; a
fetch already under way for the key is waited for (request collapsing); otherwise the request
goes to the backend (MISS). A MISS the rules (and the after-send hook) call cacheable is
copied into the cache as the app reads it, and becomes a HIT once its body is complete; a
fetch that fails or is not read to its end stores nothing. A HEAD miss fetches the GET (read
into the cache in the background) and gives the app its head. Anything else is a PASS.

Each decision is :mod:`compute_emu.cache.policy`'s (pure); this module does the I/O it asks
for. The request is a :class:`~compute_emu.runtime.send.CallScope`: the app's hooks
(``set_before_send``/``set_after_send``) run through it, on the app's side, never on the loop.
"""

from __future__ import annotations

import dataclasses
import ssl
import time

from ..cache import freshness, policy
from ..cache.store import CachedBody, CacheStore, Entry, Fill, HttpMeta
from ..manifest import BackendConfig
from ..rules.framing import FRAMING, HOP_BY_HOP
from ..sdk._errors import SendError
from ..sdk._interface import BodyParts, Candidate, OutgoingRequest
from .bridge import Loop, LoopBodyStream
from .send import BackendCall, CallScope, UpstreamCall, open_backend_call

COLLAPSE_WAIT = 15.0  # seconds (see _collapse_wait)
_NOT_STORED = HOP_BY_HOP | FRAMING | freshness.STRIPPED | {"age"}


class CachedCall:
    """A :class:`BackendCall` served from the cache: its body comes from memory."""

    version = "HTTP/1.1"

    def __init__(self, loop: Loop, entry: Entry, backend: str, head: bool, now: float) -> None:
        assert entry.meta is not None
        self._loop = loop
        self.backend_name = backend
        self.status = entry.meta.status
        age = int(entry.age(now))
        length = [("content-length", str(entry.body.size).encode())] if entry.body.complete else []
        self.headers = [*entry.meta.headers, *length, ("age", str(age).encode())]
        self._body = CachedBody(b"") if head else entry.body
        self.length = entry.body.size if entry.body.complete else None
        self._index = 0

    def body_stream(self) -> LoopBodyStream:
        return LoopBodyStream(self._loop, self._read, self.length)

    async def _read(self) -> bytes:
        chunk = await self._body.chunk(self._index)
        self._index += 1
        return chunk

    async def aclose(self) -> None:
        """Nothing to close."""


class HeadView:
    """What a HEAD miss gives the app: the GET's status and headers, no body (the GET's body
    is read into the cache by :func:`_drain`)."""

    def __init__(self, call: UpstreamCall) -> None:
        self._loop = call._loop
        self.backend_name = call.backend_name
        self.version = call.version
        self.status = call.status
        self.headers = call.headers
        self.length = call.length

    def body_stream(self) -> LoopBodyStream:
        return LoopBodyStream(self._loop, self._read, self.length)

    async def _read(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        """Nothing to close."""


def _collapse_wait(config: BackendConfig) -> float:
    """How long a request waits for another's fetch of its key: the backend's first-byte
    timeout (Fastly's default, 15 s, when fastly.toml sets none)."""
    ms = config.first_byte_timeout_ms
    return COLLAPSE_WAIT if ms is None else ms / 1000


def _cache_key(request: OutgoingRequest) -> bytes:
    """``set_cache_key``'s key, else the URL and Host's."""
    if key := request.cache.cache_key:
        return b"http:key:" + key
    host = next((v for n, v in request.headers if n.lower() == "host"), None)
    return freshness.http_cache_key(
        request.url, None if host is None else host.decode("utf-8", "replace")
    )


async def _fetch(
    scope: CallScope,
    config: BackendConfig,
    request: OutgoingRequest,
    context: ssl.SSLContext | None,
) -> tuple[OutgoingRequest, UpstreamCall]:
    """The app's before-send hook, then the backend call: what was sent, and its answer."""
    if (hook := request.cache.before_send) is not None:
        request = await scope.run_hook(hook, request)
    return request, await open_backend_call(scope.services, config, request, context)


async def _forward(
    scope: CallScope,
    config: BackendConfig,
    request: OutgoingRequest,
    context: ssl.SSLContext | None,
) -> BackendCall:
    """To the backend, past the cache (the app sees no ``Surrogate-Control``)."""
    _sent, call = await _fetch(scope, config, request, context)
    call.headers = freshness.app_headers(call.headers)
    return call


async def cached_send(
    scope: CallScope,
    config: BackendConfig,
    request: OutgoingRequest,
    context: ssl.SSLContext | None,
    note: int | None = None,
) -> BackendCall:
    """``request`` through the readthrough cache; tags the log note HIT/MISS/STALE/PASS."""
    services = scope.services
    if not services.readthrough:
        return await open_backend_call(services, config, request, context)
    if (skip := policy.route(request.method, request.cache.pass_)) is not None:
        if skip.tag is not None:
            scope.tag(note, skip.tag)
        return await _forward(scope, config, request, context)
    store: CacheStore = services.cache
    key = _cache_key(request)
    head = request.method == "HEAD"
    while True:
        entry = store.lookup(key, request.headers)
        fetching = store.obligation(key)
        under_way = policy.UnderWay.NONE
        if fetching is not None:
            under_way = policy.UnderWay.OURS if fetching.owner is scope else policy.UnderWay.OTHERS
        step = policy.on_lookup(policy.found_state(entry, store.now()), under_way)
        if isinstance(step, policy.Hit | policy.ServeStale):
            assert entry is not None
            if isinstance(step, policy.ServeStale) and step.revalidate:
                fresh = dataclasses.replace(request, body=BodyParts())
                fill = store.fill(key)
                store.spawn(_revalidate(scope, config, fresh, context, fill, entry))
            entry.hits += 1
            scope.tag(note, step.tag)
            return CachedCall(services.loop, entry, config.name, head, store.now())
        if isinstance(step, policy.Wait):
            assert fetching is not None
            after = policy.after_wait(await fetching.wait(_collapse_wait(config)))
            if after is None:
                continue  # stored or failed: look again
            step = after
        if isinstance(step, policy.Forward):
            scope.tag(note, step.tag or "MISS")
            return await _forward(scope, config, request, context)
        stale = entry if entry is not None and entry.meta is not None else None
        return await _miss(scope, config, request, context, key, stale, note)


async def _miss(
    scope: CallScope,
    config: BackendConfig,
    request: OutgoingRequest,
    context: ssl.SSLContext | None,
    key: bytes,
    stale: Entry | None,
    note: int | None,
) -> BackendCall:
    """Fetch for the cache: serve the stale object on an error it may cover, else store what
    may be stored while the app reads it."""
    store: CacheStore = scope.services.cache
    head = request.method == "HEAD"
    if head:  # a HEAD miss fetches the GET, to fill the cache (the app gets no body)
        request = dataclasses.replace(request, method="GET", body=BodyParts())

    def stale_call() -> CachedCall | None:
        usable = stale is not None and stale.within_sie(store.now())
        if stale is None or not policy.serve_stale_on_error(failed, status, usable):
            return None
        scope.tag(note, "STALE")
        return CachedCall(scope.services.loop, stale, config.name, head, store.now())

    with store.fill(key, owner=scope) as fill:
        failed, status = True, None
        try:
            sent, call = await _fetch(scope, config, request, context)
        except SendError:
            if (served := stale_call()) is not None:
                return served
            scope.tag(note, "MISS")
            raise
        except BaseException:
            scope.tag(note, "MISS")
            raise
        failed, status = False, call.status
        if (served := stale_call()) is not None:
            await call.aclose()
            return served
        scope.tag(note, "MISS")
        try:
            entry = await _candidate(scope, store, key, sent, call)
        except BaseException:
            await call.aclose()
            raise
        keep = policy.keep(entry is not None, call.length, store.max_object)
        if entry is None or not keep:
            fill.uncacheable()  # not storable, or too big: served, not stored
            if head:
                await call.aclose()
                return HeadView(call)
            return call
        call.sink = fill.copy_into(entry)
    if head:
        store.spawn(_drain(call))
        return HeadView(call)
    return call


async def _drain(call: UpstreamCall) -> None:
    """Read a HEAD miss's GET body into the cache, in the background."""
    try:
        await call.read_all()
    except Exception:
        pass  # the sink abandoned the object
    finally:
        await call.aclose()


async def _candidate(
    scope: CallScope, store: CacheStore, key: bytes, request: OutgoingRequest, call: UpstreamCall
) -> Entry | None:
    """Apply the rules, the request's knobs and the after-send hook to a backend response:
    the entry to fill (its body still empty), or None if it is not to be stored. The call's
    status and headers become what the hook left (Surrogate-Control removed)."""
    options = request.cache
    verdict = freshness.analyse(call.status, call.headers, time.time())
    keys = set(verdict.surrogate_keys)
    keys.update((options.surrogate_key or "").split())
    candidate = Candidate(
        status=call.status,
        headers=tuple(call.headers),
        cacheable=verdict.storable,
        ttl=verdict.ttl if options.ttl is None else options.ttl,
        age=verdict.age,
        stale_while_revalidate=(
            verdict.stale_while_revalidate
            if options.stale_while_revalidate is None
            else options.stale_while_revalidate
        ),
        surrogate_keys=tuple(sorted(keys)),
        vary=verdict.vary,
        pci=options.pci,
    )
    if options.after_send is not None:
        candidate = await scope.run_hook(options.after_send, candidate)
    call.status = candidate.status
    call.headers = freshness.app_headers(candidate.headers)
    if not candidate.cacheable:
        return None
    stored = tuple((n, v) for n, v in call.headers if n.lower() not in _NOT_STORED)
    return Entry(
        key=key,
        body=CachedBody(),
        stored_at=store.now(),
        max_age=candidate.ttl,
        initial_age=verdict.age,
        stale_while_revalidate=candidate.stale_while_revalidate,
        stale_if_error=verdict.stale_if_error,
        vary=candidate.vary,
        variant=freshness.variant(candidate.vary, request.headers),
        surrogate_keys=frozenset(candidate.surrogate_keys),
        sensitive=candidate.pci,
        meta=HttpMeta(candidate.status, stored),
        label=request.url,
    )


async def _revalidate(
    scope: CallScope,
    config: BackendConfig,
    request: OutgoingRequest,
    context: ssl.SSLContext | None,
    fill: Fill,
    stale: Entry,
) -> None:
    """Refresh a stale object in the background (stale-while-revalidate). With an ``ETag``
    or ``Last-Modified`` the request is conditional, and a 304 keeps the stored body with
    the new freshness."""
    assert stale.meta is not None
    validators = freshness.validators(stale.meta.headers)
    names = {n for n, _ in validators}
    headers = tuple((n, v) for n, v in request.headers if n.lower() not in names)
    request = dataclasses.replace(request, headers=headers + tuple(validators))
    with fill:
        try:
            sent, call = await _fetch(scope, config, request, context)
        except Exception:
            return
        try:
            not_modified = call.status == 304
            if not_modified:
                call.status = stale.meta.status
                call.headers = freshness.refreshed(stale.meta.headers, call.headers)
            entry = await _candidate(scope, fill.store, fill.key, sent, call)
            if entry is None or not policy.keep_refreshed(entry is not None, call.status):
                fill.uncacheable()
                return
            entry.body = stale.body if not_modified else CachedBody(await call.read_all())
            fill.stored(entry)
        except Exception:
            return
        finally:
            await call.aclose()
