"""``-v``: each backend request an app makes, one line (backend, method, URL, status, time);
``-vv`` also the first bytes of each backend response body the app reads.

The upstream client is wrapped only when the log is verbose, so a normal run pays nothing.
Only requests made for a request's ``main()`` are logged (``current_request`` is set in the
app's thread and inherited by the loop tasks its SDK calls start); handoffs and the publish
port have lines of their own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from ..log import current_request
from ..upstream.client import Origin, UpstreamClient, UpstreamError, UpstreamRequest
from .body_log import ResponseBodyTap

if TYPE_CHECKING:
    from ..log import RequestLog
    from ..upstream.client import UpstreamResponse
    from .services import Services


class LoggedClient:
    """An :class:`UpstreamClient` look-alike that logs each request it sends for an app."""

    def __init__(self, client: UpstreamClient, log: RequestLog, services: Services) -> None:
        self._client = client
        self._log = log
        self._services = services

    def _backend(self, origin: Origin) -> str:
        for name, config in self._services.backends.items():
            if config.host == origin.host and config.port == origin.port:
                return name
        return origin.label  # a dynamic backend

    async def request(
        self, origin: Origin, request: UpstreamRequest, **kwargs: Any
    ) -> UpstreamResponse:
        """Send as the wrapped client does; log the outcome when it was for an app."""
        request_id = current_request.get()
        if request_id is None:
            return await self._client.request(origin, request, **kwargs)
        self._log.headers(request_id, "  >", request.headers)
        started = time.perf_counter()
        scheme = "https" if origin.tls else "http"
        url = f"{scheme}://{origin.label}{request.target}"
        name = self._backend(origin)
        try:
            response = await self._client.request(origin, request, **kwargs)
        except UpstreamError as exc:
            error = f"failed: {exc.detail or exc.kind.name.lower()}"
            self._log.backend(name, request.method, url, None, started, error=error)
            raise
        self._log.backend(name, request.method, url, response.status, started)
        self._log.headers(request_id, "  <", response.headers)
        if self._log.verbose >= 2 and response.status != 101:
            return cast("UpstreamResponse", ResponseBodyTap(response, self._log, request_id))
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def log_backend_calls(services: Services) -> None:
    """With ``-v``, route the app's backend requests through :class:`LoggedClient`."""
    if services.log.verbose and not isinstance(services.pool, LoggedClient):
        services.pool = LoggedClient(services.pool, services.log, services)  # type: ignore[assignment]
