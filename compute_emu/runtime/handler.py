"""The path of one request: run ``main()`` in a thread, carry out what it decided, log a line."""

from __future__ import annotations

import ipaddress
import itertools
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import h11

from ..log import RequestRecord
from ..sdk._errors import SendError
from ..sdk._host import bind_host
from ..server.connection import ClientGone, Exchange
from .deliver import deliver_response, error_status, send_text
from .handoff import relay_handoff
from .host import RequestHost

if TYPE_CHECKING:
    from .services import Services


class AppHandler:
    """Handles every exchange of the server with the app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.date = services.date
        self._ids = itertools.count()

    async def __call__(self, exchange: Exchange) -> None:
        request_id = next(self._ids)
        record = RequestRecord(request_id, exchange.method, exchange.target)
        client_ip = self.services.client_ip or ipaddress.ip_address(exchange.addresses.client[0])
        host = RequestHost(self.services, exchange, request_id, client_ip)
        app_done = anyio.Event()
        try:
            exchange.start_soon(self._run_app, host, app_done)
            await host.decided.wait()
            try:
                await self._carry_out(host, record)
            except SendError as exc:  # a backend failed while its body streamed out
                record.error = str(exc)
                raise ClientGone from None
            except h11.LocalProtocolError as exc:  # e.g. a body shorter than its length
                record.error = str(exc)
                raise ClientGone from None
            await app_done.wait()
        finally:
            with anyio.CancelScope(shield=True):
                if host.outcome is not None and host.outcome.stream is not None:
                    await host.outcome.stream.abort()  # a writer still going gets an error
                await host.close_backend_calls()
            record.status = exchange.response_status
            record.bytes_sent = exchange.response_bytes
            record.notes = host.notes
            self.services.log.request(record)

    # -- the app's thread ------------------------------------------------------------------
    async def _run_app(self, host: RequestHost, done: anyio.Event) -> None:
        error: BaseException | None = None
        try:
            await anyio.to_thread.run_sync(
                self._main_in_thread, host, limiter=self.services.limiter, abandon_on_cancel=True
            )
        except Exception as exc:
            error = exc
        if error is not None and host.outcome is not None:
            self.services.log.error(
                f"#{host.request_id} main() raised after it answered the client:\n"
                + self.services.app.format_error(error)
            )
        await host.finish(error)
        done.set()

    def _main_in_thread(self, host: RequestHost) -> None:
        app, output = self.services.app, self.services.output
        if changed := app.refresh():
            self.services.log.info(f"app reloaded ({', '.join(changed)} changed)")
        output.bind(host.request_id)
        try:
            with bind_host(host):
                app.main_of(app.instantiate())()
        finally:
            output.bind(None)

    # -- the connection task ---------------------------------------------------------------
    async def _carry_out(self, host: RequestHost, record: RequestRecord) -> None:
        outcome = host.outcome
        assert outcome is not None
        exchange = host.exchange
        if outcome.response is not None:
            await deliver_response(exchange, outcome.response, self.date(), outcome.stream)
        elif outcome.handoff is not None:
            await relay_handoff(host, *outcome.handoff)
        elif outcome.error is not None:
            error = outcome.error
            text = self.services.app.format_error(error)
            record.error = f"{type(error).__name__}: {error}"
            self.services.log.error(f"#{host.request_id} main() raised:\n{text}")
            peer = ipaddress.ip_address(exchange.addresses.client[0])  # the real one
            body = text + "\n" if peer.is_loopback else "Internal Server Error\n"
            await send_text(exchange, error_status(error), body, self.date())
        else:  # main() returned without answering: Viceroy sends an empty 200
            await send_text(exchange, 200, "", self.date(), content_type=None)
