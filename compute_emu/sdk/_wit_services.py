"""The Wasm host's calls beyond HTTP: logs, KV/config/secret stores, ACLs, geolocation and
device detection, edge rate limiting, the Core cache, purging and the instance's numbers, each
one or a few ``fastly:compute`` imports (``log``, ``kv-store``, ``config-store``,
``secret-store``, ``acl``, ``geo``, ``device-detection``, ``erl``, ``cache``, ``purge``,
``compute-runtime``). A base class of :class:`~._wit_host.WitHost`.
"""

from __future__ import annotations

import json
from typing import Any

from wit_world.imports import (  # type: ignore[import-not-found]
    acl,
    cache,
    compute_runtime,
    config_store,
    device_detection,
    erl,
    geo,
    http_downstream,
    http_req,
    kv_store,
    log,
    purge,
    secret_store,
    types,
)

from ._interface import (
    AclMatch,
    BodyStream,
    CachedObject,
    CacheState,
    CacheWrite,
    Handle,
    Headers,
    HostError,
    IpAddress,
    KvEntry,
    KvInsert,
    KvPage,
    StreamSink,
)
from ._wit_calls import WitBodyStream, WitSink, calling, err_of, new_body, read_all, sized
from ._wit_values import host_error, ip_parts, is_not_found

_NS = 1_000_000_000


def wit_ip(ip: IpAddress) -> Any:
    """The ``types.ip-address`` of ``ip``."""
    v4, parts = ip_parts(ip)
    return types.IpAddress_Ipv4(parts) if v4 else types.IpAddress_Ipv6(parts)


def opened(open_: Any, name: str, call: str) -> Any:
    """``open_(name)``, or ``None`` when the host has nothing of that name."""
    try:
        return open_(name)
    except Exception as exc:
        err = err_of(exc)
        if err is None:
            raise
        if is_not_found(err.value):
            return None
        raise host_error(err.value, call) from None


def header_request(headers: Headers) -> Any:
    """An ``http-req.request`` carrying ``headers`` (the Core cache reads request headers from
    one); ``None`` for none."""
    if not headers:
        return None
    with calling("http-req.new"):
        request = http_req.Request.new()
        for name, value in headers:
            request.append_header(name, value)
    return request


def _seconds(ns: int | None) -> float:
    return 0.0 if ns is None else ns / _NS


class WitServices:
    """Logs, stores, lookups, ERL, the Core cache, purge and the instance over the imports."""

    _client: Any  # the client request (an http-req.request): fastly-key-is-valid reads it
    _endpoints: dict[str, Any]

    # -- logs ----------------------------------------------------------------------------------
    def log_write(self, endpoint: str, line: str) -> None:
        handle = self._endpoints.get(endpoint)
        with calling("log.endpoint"):
            if handle is None:
                handle = self._endpoints[endpoint] = log.Endpoint.open(endpoint)
            handle.write(line.encode())

    # -- KV stores -----------------------------------------------------------------------------
    def kv_open(self, name: str) -> Handle | None:
        return opened(kv_store.Store.open, name, "kv-store.open")

    def kv_lookup(self, store: Handle, key: str) -> KvEntry | None:
        with calling("kv-store.lookup"):
            entry = store.lookup(key)  # type: ignore[attr-defined]
            if entry is None:
                return None
            body = entry.take_body()
            generation = int(entry.generation())
        metadata = sized(entry.metadata, "kv-store.entry.metadata")
        value = b"" if body is None else read_all(body, "kv-store.entry.body")
        return KvEntry(value, metadata, generation)

    def kv_insert(self, store: Handle, key: str, value: bytes, options: KvInsert) -> None:
        with calling("kv-store.insert"):
            body = new_body(value)
            store.insert(  # type: ignore[attr-defined]
                key,
                body,
                kv_store.InsertOptions(
                    background_fetch=options.background_fetch,
                    if_generation_match=options.if_generation_match,
                    metadata=options.metadata,
                    time_to_live_sec=None if options.ttl is None else max(int(options.ttl), 1),
                    mode=kv_store.InsertMode[options.mode.upper()],
                    extra=None,
                ),
            )

    def kv_delete(self, store: Handle, key: str) -> bool:
        with calling("kv-store.delete"):
            return bool(store.delete(key))  # type: ignore[attr-defined]

    def kv_list(
        self, store: Handle, prefix: str | None, cursor: str | None, limit: int | None
    ) -> KvPage:
        options = kv_store.ListOptions(
            mode=kv_store.ListMode.STRONG, cursor=cursor, limit=limit, prefix=prefix, extra=None
        )
        with calling("kv-store.list"):
            body = store.list(options)  # type: ignore[attr-defined]
        page = json.loads(read_all(body, "kv-store.list") or b"{}")
        meta = page.get("meta") or {}
        return KvPage(tuple(page.get("data") or ()), meta.get("next_cursor") or None)

    # -- config and secret stores, ACLs --------------------------------------------------------
    def config_store_open(self, name: str) -> Handle | None:
        return opened(config_store.Store.open, name, "config-store.open")

    def config_store_get(self, store: Handle, key: str) -> str | None:
        try:
            value: str | None = sized(lambda size: store.get(key, size), "config-store.get")  # type: ignore[attr-defined]
        except HostError as exc:
            if exc.kind == "invalid_argument":  # the key breaks the rules
                raise HostError("invalid_key", exc.detail) from None
            raise
        return value

    def secret_store_open(self, name: str) -> Handle | None:
        return opened(secret_store.Store.open, name, "secret-store.open")

    def secret_store_get(self, store: Handle, name: str) -> bytes | None:
        with calling("secret-store.get"):
            secret = store.get(name)  # type: ignore[attr-defined]
        if secret is None:
            return None
        return bytes(sized(secret.plaintext, "secret-store.secret.plaintext"))

    def acl_open(self, name: str) -> Handle | None:
        return opened(acl.Acl.open, name, "acl.open")

    def acl_lookup(self, acl_: Handle, ip: IpAddress) -> AclMatch | None:
        with calling("acl.lookup"):
            body = acl_.lookup(wit_ip(ip))  # type: ignore[attr-defined]
        if body is None:
            return None
        match = json.loads(read_all(body, "acl.lookup"))
        return AclMatch(prefix=str(match["prefix"]), action=str(match["action"]).upper())  # type: ignore[arg-type]

    # -- lookups about the client --------------------------------------------------------------
    def geo_lookup(self, ip: IpAddress) -> dict[str, object] | None:
        try:
            text = sized(lambda size: geo.lookup(wit_ip(ip), size), "geo.lookup")
        except HostError as exc:
            if exc.kind == "unexpected":  # no data for this address
                return None
            raise
        found: dict[str, object] = json.loads(text)
        return found

    def device_lookup(self, user_agent: str) -> dict[str, object] | None:
        text = sized(lambda size: device_detection.lookup(user_agent, size), "device-detection")
        return None if text is None else json.loads(text)

    def fastly_key_is_valid(self, key: str | None) -> bool:
        """Whether the client request's ``Fastly-Key`` is valid: the host reads the header of
        the client request itself (``key`` is what the SDK read; the WIT takes the request)."""
        with calling("http-downstream.fastly-key-is-valid"):
            return bool(http_downstream.fastly_key_is_valid(self._client))

    # -- edge rate limiting --------------------------------------------------------------------
    def erl_increment(self, counter: str, entry: str, delta: int) -> None:
        with calling("erl.rate-counter.increment"):
            erl.RateCounter.open(counter).increment(entry, delta)

    def erl_rate(self, counter: str, entry: str, window: int) -> int:
        with calling("erl.rate-counter.lookup-rate"):
            return int(erl.RateCounter.open(counter).lookup_rate(entry, window))

    def erl_count(self, counter: str, entry: str, duration: int) -> int:
        with calling("erl.rate-counter.lookup-count"):
            return int(erl.RateCounter.open(counter).lookup_count(entry, duration))

    def penaltybox_add(self, box: str, entry: str, ttl: float) -> None:
        with calling("erl.penalty-box.add"):
            erl.PenaltyBox.open(box).add(entry, int(ttl))

    def penaltybox_has(self, box: str, entry: str) -> bool:
        with calling("erl.penalty-box.has"):
            return bool(erl.PenaltyBox.open(box).has(entry))

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
        with calling("erl.rate-counter.check-rate"):
            rate_counter, penalty_box = erl.RateCounter.open(counter), erl.PenaltyBox.open(box)
            return bool(rate_counter.check_rate(entry, delta, window, limit, penalty_box, int(ttl)))

    # -- the Core cache --------------------------------------------------------------------------
    def cache_lookup(self, key: bytes, request_headers: Headers, transaction: bool) -> Handle:
        options = cache.LookupOptions(
            request_headers=header_request(request_headers),
            always_use_requested_range=False,
            extra=None,
        )
        with calling("cache.transaction-lookup" if transaction else "cache.lookup"):
            if transaction:
                return cache.Entry.transaction_lookup(key, options)
            return cache.Entry.lookup(key, options)

    def cache_state(self, lookup: Handle) -> CacheState:
        with calling("cache.entry.get-state"):
            state = lookup.get_state()  # type: ignore[attr-defined]
        flags = cache.LookupState
        return CacheState(
            found=bool(state & flags.FOUND),
            usable=bool(state & flags.USABLE),
            stale=bool(state & flags.STALE),
            must_insert_or_update=bool(state & flags.MUST_INSERT_OR_UPDATE),
        )

    def cache_object(self, lookup: Handle) -> CachedObject | None:
        """What the WIT tells of a found object; it has no getter for the surrogate keys, the
        vary rule or the sensitive flag (reported empty)."""
        if not self.cache_state(lookup).found:
            return None
        entry: Any = lookup
        with calling("cache.entry"):
            age, max_age = entry.get_age_ns(), entry.get_max_age_ns()
            swr, hits = entry.get_stale_while_revalidate_ns(), entry.get_hits()
            length = entry.get_length()
        metadata = sized(entry.get_user_metadata, "cache.entry.get-user-metadata")
        return CachedObject(
            age=_seconds(age),
            max_age=_seconds(max_age),
            stale_while_revalidate=_seconds(swr),
            hits=int(hits or 0),
            length=length,
            user_metadata=bytes(metadata or b""),
            surrogate_keys=(),
            vary=(),
            sensitive=False,
        )

    def cache_body(self, lookup: Handle, start: int, end: int | None) -> BodyStream:
        options = cache.GetBodyOptions(
            from_=start or None, to=None if end is None else max(end - 1, start), extra=None
        )
        with calling("cache.entry.get-body"):
            return WitBodyStream(lookup.get_body(options))  # type: ignore[attr-defined]

    def cache_insert(self, key: bytes, options: CacheWrite) -> StreamSink:
        with calling("cache.insert"):
            return WitSink(cache.insert(key, write_options(options)), "cache.insert")

    def cache_transaction_insert(
        self, lookup: Handle, options: CacheWrite, stream_back: bool
    ) -> tuple[StreamSink, Handle | None]:
        entry: Any = lookup
        with calling("cache.entry.transaction-insert"):
            if stream_back:
                body, found = entry.transaction_insert_and_stream_back(write_options(options))
                return WitSink(body, "cache.transaction-insert"), found
            return WitSink(entry.transaction_insert(write_options(options)), "cache"), None

    def cache_transaction_update(self, lookup: Handle, options: CacheWrite) -> None:
        with calling("cache.entry.transaction-update"):
            lookup.transaction_update(write_options(options))  # type: ignore[attr-defined]

    def cache_transaction_cancel(self, lookup: Handle) -> None:
        with calling("cache.entry.transaction-cancel"):
            lookup.transaction_cancel()  # type: ignore[attr-defined]

    def cache_close(self, lookup: Handle) -> None:
        with calling("cache.close-entry"):
            cache.close_entry(lookup)

    def purge_surrogate_key(self, key: str, soft: bool) -> None:
        with calling("purge.purge-surrogate-key"):
            purge.purge_surrogate_key(key, purge.PurgeOptions(soft_purge=soft, extra=None))

    # -- the instance ----------------------------------------------------------------------------
    def vcpu_ms(self) -> int:
        return int(compute_runtime.get_vcpu_ms())

    def heap_mib(self) -> int:
        return int(compute_runtime.get_heap_mib())

    def sandbox_id(self) -> str:
        return str(compute_runtime.get_sandbox_id())


def write_options(options: CacheWrite) -> Any:
    """The ``cache.write-options`` of a :class:`CacheWrite`."""
    return cache.WriteOptions(
        max_age_ns=int(options.ttl * _NS),
        request_headers=header_request(options.request_headers),
        vary_rule=" ".join(options.vary) or None,
        initial_age_ns=int(options.initial_age * _NS) if options.initial_age else None,
        stale_while_revalidate_ns=int(options.stale_while_revalidate * _NS),
        surrogate_keys=" ".join(options.surrogate_keys) or None,
        length=options.length,
        user_metadata=options.user_metadata or None,
        edge_max_age_ns=None,
        sensitive_data=options.sensitive,
        extra=None,
    )
