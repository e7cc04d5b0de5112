"""The readthrough HTTP cache in front of ``Request.send()``/``send_async()`` (on the loop).

For a GET or HEAD that is not a pass: look the request up (its cache key, then its Vary
variant). A key recorded uncacheable (hit-for-pass) goes to the backend at once (PASS); a
fresh object is a HIT (served from memory with its ``Age``); a stale one within
``stale-while-revalidate`` is served as STALE while one background fetch refreshes it; a
fetch already under way for the key is waited for (request collapsing); otherwise the request
goes to the backend (MISS), conditionally when a stale object has a validator (a 304 serves
it refreshed). A MISS the rules (and the after-send hook) call cacheable is copied into the
cache as the app reads it, and becomes a HIT once its body is complete; one they record
uncacheable passes its key for its TTL; a fetch that fails or is not read to its end stores
nothing. A HEAD miss fetches the GET (read into the cache in the background) and gives the
app its head. Anything else is a PASS.

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
        found = policy.found_state(entry, store.now(), store.pass_until(key))
        step = policy.on_lookup(found, under_way)
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
    """Fetch for the cache: conditionally when the stale object has a validator (a 304 serves
    it refreshed), serve the stale object on an error it may cover, else store what may be
    stored while the app reads it."""
    store: CacheStore = scope.services.cache
    loop = scope.services.loop
    head = request.method == "HEAD"
    if head:  # a HEAD miss fetches the GET, to fill the cache (the app gets no body)
        request = dataclasses.replace(request, method="GET", body=BodyParts())
    request, conditional = _conditional(request, stale)

    def stale_call() -> CachedCall | None:
        usable = stale is not None and stale.within_sie(store.now())
        if stale is None or not policy.serve_stale_on_error(failed, status, usable):
            return None
        scope.tag(note, "STALE")
        return CachedCall(loop, stale, config.name, head, store.now())

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
            refreshed = _refresh(call, stale, conditional)
            candidate, entry = await _candidate(scope, store, key, sent, call)
        except BaseException:
            await call.aclose()
            raise
        length = None if refreshed else call.length
        action = policy.storage(
            candidate.cacheable, candidate.record_uncacheable, length, store.max_object
        )
        if refreshed:  # a 304: the stored body, with the new headers and freshness
            assert stale is not None
            await call.aclose()
            entry.body = stale.body
            _settle(fill, action, candidate, entry)
            return CachedCall(loop, entry, config.name, head, store.now())
        if action is not policy.Storage.INSERT:
            _settle(fill, action, candidate, entry)  # not storable, or too big: served only
            if head:
                await call.aclose()
                return HeadView(call)
            return call
        call.sink = fill.copy_into(entry)
    if head:
        store.spawn(_drain(call))
        return HeadView(call)
    return call


def _settle(fill: Fill, action: policy.Storage, candidate: Candidate, entry: Entry) -> None:
    """End the fetch as ``action`` says: store ``entry`` (its body complete), record the key
    uncacheable for the candidate's TTL (hit-for-pass), or store nothing."""
    if action is policy.Storage.INSERT:
        fill.stored(entry)
    elif action is policy.Storage.RECORD_UNCACHEABLE:
        fill.pass_for(candidate.ttl)
    else:
        fill.uncacheable()


def _conditional(request: OutgoingRequest, stale: Entry | None) -> tuple[OutgoingRequest, bool]:
    """``request`` with the stale object's validators (``If-None-Match``/``If-Modified-Since``
    in place of the app's own), and whether it is conditional now."""
    found = freshness.validators(stale.meta.headers) if stale and stale.meta else []
    if not policy.conditional(stale is not None, bool(found)):
        return request, False
    names = {n for n, _ in found}
    headers = tuple((n, v) for n, v in request.headers if n.lower() not in names)
    return dataclasses.replace(request, headers=headers + tuple(found)), True


def _refresh(call: UpstreamCall, stale: Entry | None, conditional: bool) -> bool:
    """If ``call`` answers a conditional request with a 304, make it the stored response as
    refreshed (its status, its headers updated by the 304's: RFC 9111 §4.3.4) and say so."""
    if stale is None or stale.meta is None or not policy.not_modified(conditional, call.status):
        return False
    call.status = stale.meta.status
    call.headers = freshness.refreshed(stale.meta.headers, call.headers)
    return True


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
) -> tuple[Candidate, Entry]:
    """Apply the rules, the request's knobs and the after-send hook to a backend response:
    what the hook left (``cacheable``: whether to store it), and the entry to fill (its body
    still empty). The call's status and headers become the hook's (Surrogate-Control
    removed)."""
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
        record_uncacheable=verdict.record_uncacheable,
    )
    if options.after_send is not None:
        candidate = await scope.run_hook(options.after_send, candidate)
    call.status = candidate.status
    call.headers = freshness.app_headers(candidate.headers)
    stored = tuple((n, v) for n, v in call.headers if n.lower() not in _NOT_STORED)
    return candidate, Entry(
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
        revalidatable=bool(freshness.validators(stored)),
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
    request, conditional = _conditional(request, stale)
    with fill:
        try:
            sent, call = await _fetch(scope, config, request, context)
        except Exception:
            return
        try:
            not_modified = _refresh(call, stale, conditional)
            candidate, entry = await _candidate(scope, fill.store, fill.key, sent, call)
            action = policy.storage_refreshed(
                candidate.cacheable, candidate.record_uncacheable, call.status
            )
            if action is policy.Storage.INSERT:
                entry.body = stale.body if not_modified else CachedBody(await call.read_all())
            _settle(fill, action, candidate, entry)
        except Exception:
            return
        finally:
            await call.aclose()
