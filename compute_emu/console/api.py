"""The console's JSON API: each path (after ``/.compute-emu/console/api/``) and method to the
function that answers it. No I/O here beyond the publish call; ``http.py`` reads bodies and
writes answers, ``admission.py`` has already checked the request (docs/console.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import cache_view, stores
from .admission import ConsoleRequest
from .errors import ConsoleError
from .publishing import item_of, send_item

if TYPE_CHECKING:
    from .state import ConsoleState

Answer = dict[str, Any]
Route = Callable[["ConsoleState", ConsoleRequest, dict[str, Any]], Answer | Awaitable[Answer]]


def _requests(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return {"requests": console.feed.snapshot()}


def _held(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return console.held.state()


async def _publish(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    port = console.publish_port
    if port is None:
        raise ConsoleError(409, "Fanout is off: enable [local_server.pushpin] in fastly.toml")
    item, description = item_of(body)
    answer = await send_item(console.services.pool, port, item)
    return {**answer, "description": description}


def _stores(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return stores.overview(console.services.platform)


def _kv_list(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    store = stores.kv_store(console.services.platform, request.arg("store"))
    return stores.kv_list(store, request.arg("prefix"), request.arg("cursor"))


def _kv_read(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    store = stores.kv_store(console.services.platform, request.arg("store"))
    return stores.kv_read(store, request.arg("key"))


def _kv_write(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    store = stores.kv_store(console.services.platform, body.get("store"))
    return stores.kv_write(store, body)


def _kv_delete(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    store = stores.kv_store(console.services.platform, body.get("store"))
    return stores.kv_delete(store, body.get("key"))


def _cache(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return cache_view.objects(console.services.cache)


def _cache_purge(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return cache_view.purge_request(console.services.cache, body, console.services.log)


def _cache_remove(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return cache_view.remove_object(console.services.cache, body, console.services.log)


def _cache_advance(console: ConsoleState, request: ConsoleRequest, body: dict[str, Any]) -> Answer:
    return cache_view.advance_clock(console.services.cache, body)


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "requests"): _requests,
    ("GET", "held"): _held,
    ("POST", "publish"): _publish,
    ("GET", "stores"): _stores,
    ("GET", "kv"): _kv_list,
    ("GET", "kv/entry"): _kv_read,
    ("POST", "kv/write"): _kv_write,
    ("POST", "kv/delete"): _kv_delete,
    ("GET", "cache"): _cache,
    ("POST", "cache/purge"): _cache_purge,
    ("POST", "cache/remove"): _cache_remove,
    ("POST", "cache/advance"): _cache_advance,
}
STREAMS = frozenset({"events", "error-page"})  # GET paths answered by http.py, not JSON


def route(method: str, name: str) -> Route:
    """The function for ``method name``, or a 404/405 saying what there is."""
    if name in STREAMS:
        raise ConsoleError(405, f"use GET for api/{name}")
    method = "GET" if method == "HEAD" else method
    found = ROUTES.get((method, name))
    if found is not None:
        return found
    methods = sorted(m for m, n in ROUTES if n == name)
    if methods:
        raise ConsoleError(405, f"use {' or '.join(methods)} for api/{name}")
    known = ", ".join(sorted({n for _, n in ROUTES} | STREAMS))
    raise ConsoleError(404, f"no console API path api/{name} (there are: {known})")
