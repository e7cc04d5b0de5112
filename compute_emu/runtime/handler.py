"""The path of one request: run ``main()`` in a thread, carry out what it decided, log a line."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from ..log import AppOutput, RequestRecord, current_request
from ..rules.grip import grip_hold
from ..rules.http1_server import LocalProtocolError
from ..sdk._errors import SendError
from ..sdk._host import bind_host
from ..server.connection import ClientGone, Exchange
from . import environ
from .app_errors import message, plain_text, terminal_text
from .body_log import RequestBodyTap, log_response_body
from .bridge import ClientLeft
from .deliver import deliver_response, error_status, send_text
from .error_page import error_body, error_page
from .handoff import relay_handoff
from .host import RequestHost
from .logged_client import log_backend_calls

if TYPE_CHECKING:
    from .services import Services

# A main() that has not decided after this long gets its client watched: if the client hangs
# up meanwhile, the app's pending I/O is cancelled (its thread and sockets are freed).
WATCH_AFTER = 0.05
WATCH_INTERVAL = 0.1


@functools.lru_cache(maxsize=256)
def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address)


def _client_cause(error: BaseException | None) -> ClientGone | None:
    """The ClientGone (or BadRequestBody) behind an error main() raised, if any."""
    seen = 0
    while error is not None and seen < 16:
        if isinstance(error, ClientGone):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class AppHandler:
    """Handles every exchange of the server with the app."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.date = services.date
        log_backend_calls(services)  # -v only
        self._ids = itertools.count()

    async def __call__(self, exchange: Exchange) -> None:
        services = self.services
        request_id = next(self._ids)
        record = RequestRecord(request_id, exchange.method, exchange.target)
        tap = None
        if services.log.verbose:
            services.log.headers(request_id, ">", exchange.headers)
            if services.log.verbose > 1:
                tap = RequestBodyTap(services.log, request_id, exchange)
        client_ip = services.client_ip or _ip(exchange.addresses.client[0])
        host = RequestHost(services, exchange, request_id, client_ip)
        watch = asyncio.get_running_loop().call_later(
            WATCH_AFTER, exchange.start_soon, self._watch_client, host
        )
        try:
            services.workers.submit(self._main_in_thread, (host,), host.main_returned)
            await host.decided.wait()
            watch.cancel()
            try:
                await self._carry_out(host, record)
            except SendError as exc:  # a backend failed while its body streamed out
                record.error = str(exc)
                raise ClientGone from None
            except LocalProtocolError as exc:  # e.g. a body shorter than its length
                record.error = str(exc)
                raise ClientGone from None
            if not host.main_done.is_set():
                await self._wait_main(host)
        except ClientGone:
            host.client_left()  # what main() still waits for fails at once
            raise
        finally:
            watch.cancel()
            outcome = host.outcome
            if outcome is not None and outcome.stream is not None:
                outcome.stream.abort()  # a writer still going gets an error
            if host.backend_calls or host.pending_calls:
                with anyio.CancelScope(shield=True):
                    await host.close_backend_calls()
            self._log_main_error(host, record)
            if tap is not None:
                tap.flush()
            record.status = exchange.response_status
            record.bytes_sent = exchange.response_bytes
            record.notes = host.notes
            services.log.request(record)

    async def _wait_main(self, host: RequestHost) -> None:
        """Wait for main() to return after it answered, unless the client leaves first."""
        while not host.main_done.is_set():
            with anyio.move_on_after(WATCH_INTERVAL):
                await host.main_done.wait()
            if not host.main_done.is_set() and host.exchange.client_left():
                raise ClientGone

    async def _watch_client(self, host: RequestHost) -> None:
        """Until the app decides, check now and then whether its client hung up."""
        while not host.decided.is_set():
            if host.exchange.client_left():
                host.client_left()
                return
            with anyio.move_on_after(WATCH_INTERVAL):
                await host.decided.wait()

    def _log_main_error(self, host: RequestHost, record: RequestRecord) -> None:
        """An error main() raised after it had answered (or after its client left)."""
        error = host.main_error
        outcome = host.outcome
        if error is None or outcome is None or outcome.error is not None:
            return
        if isinstance(error, ClientLeft) or outcome.client_left:
            record.error = record.error or "client went away"
            return
        self._log_error(host, "main() raised after it answered the client", error)

    def _log_error(self, host: RequestHost, what: str, error: BaseException) -> None:
        """The app's error in the terminal: rich's traceback of its own frames (plain text
        in JSON logs), our frames with -v."""
        log, path = self.services.log, self.services.app.path
        verbose = log.verbose > 0
        if log.json:
            text = plain_text(error, path, verbose)
        else:
            text = terminal_text(error, path, verbose=verbose, colour=log.colour_err)
        log.error(f"#{host.request_id} {what}:\n{text}")

    # -- the app's thread ------------------------------------------------------------------
    def _main_in_thread(self, host: RequestHost) -> None:
        services = self.services
        app = services.app
        if changed := app.refresh():
            services.log.info(f"app reloaded ({', '.join(changed)} changed)")
        AppOutput.bind(services.log, host.request_id)
        token = current_request.set(host.request_id)  # the loop calls it makes inherit it
        try:
            with bind_host(host), environ.bound({"FASTLY_TRACE_ID": host.trace_id}, services.env):
                main = app.main_of(app.instantiate())
                returned = main()
                if returned is not None and host.outcome is None:
                    self._returned(main, returned)
        finally:
            current_request.reset(token)
            AppOutput.bind(None)

    def _returned(self, main: Callable[[], object], value: object) -> None:
        """main() returned something and sent nothing: a returned Response is a habit from
        elsewhere (said once)."""
        if warning := self.services.app.returned(main, value):
            self.services.log.warning(warning)

    # -- the connection task ---------------------------------------------------------------
    async def _carry_out(self, host: RequestHost, record: RequestRecord) -> None:
        outcome = host.outcome
        assert outcome is not None
        exchange = host.exchange
        if outcome.client_left:
            record.error = "client went away"
            raise ClientGone
        if outcome.response is not None:
            if self.services.log.verbose:
                self.services.log.headers(host.request_id, "<", outcome.response._headers.items())
                log_response_body(self.services.log, host.request_id, outcome.response)
            if outcome.response._headers.contains("grip-hold"):  # the console's channels
                record.grip = grip_hold(outcome.response._headers.items())
            await deliver_response(exchange, outcome.response, self.date(), outcome.stream)
        elif outcome.handoff is not None:
            await relay_handoff(host, *outcome.handoff, record)
        elif (gone := _client_cause(outcome.error)) is not None:
            # the app failed because its client broke off (or sent a broken body): answer
            # that (a 400/408 if it is still there), not with a traceback of the app
            record.error = str(gone)
            raise gone
        elif outcome.error is not None:
            error = outcome.error
            record.error = message(error)
            self._log_error(host, "main() raised", error)
            path = self.services.app.path
            record.error_page = error_page(
                error, path, exchange.method, exchange.target, exchange.headers
            )
            content_type, body = error_body(
                error,
                self.services.app.path,
                exchange.addresses.client[0],  # the real peer (only loopback sees details)
                exchange.method,
                exchange.target,
                exchange.headers,
                verbose=self.services.log.verbose > 0,
            )
            await send_text(exchange, error_status(error), body, self.date(), content_type)
        else:  # main() returned without answering: Viceroy sends an empty 200
            await send_text(exchange, 200, "", self.date(), content_type=None)
