"""The path of one request: run ``main()`` in a thread, carry out what it decided, log a line."""

from __future__ import annotations

import functools
import ipaddress
import itertools
from typing import TYPE_CHECKING

import anyio

from ..aio.loop import Calls, ClientLeft, call_later
from ..log import AppOutput, RequestRecord, current_request
from ..rules.framing import header_value
from ..rules.grip import grip_hold
from ..rules.http1_server import LocalProtocolError
from ..sdk._errors import SendError
from ..sdk._interface import ClientRequestParts, IpAddress
from ..server.connection import ClientGone, Exchange
from . import environ
from .app import MainExit, call_main
from .app_errors import message, plain_text, terminal_text
from .body_log import RequestBodyTap, log_response_body
from .bridge import LoopBodyStream
from .decision import ClientWentAway, Failed, Handoff, Respond, Returned, Stream
from .deliver import deliver_response, error_status, send_text
from .error_page import error_body, error_page
from .handoff import relay_handoff
from .hostcalls import Hostcalls
from .logged_client import log_backend_calls
from .scope import RequestScope

if TYPE_CHECKING:
    from .services import Services

# A main() that has not decided after this long gets its client watched: if the client hangs
# up meanwhile, the app's pending I/O is cancelled (its thread and sockets are freed).
WATCH_AFTER = 0.05
WATCH_INTERVAL = 0.1


@functools.lru_cache(maxsize=256)
def _ip(address: str) -> IpAddress:
    return ipaddress.ip_address(address)


@functools.lru_cache(maxsize=64)  # one or two addresses per server
def _server_ip(address: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:  # not an IP socket
        return None


def client_request(
    exchange: Exchange, calls: Calls, client_ip: IpAddress, request_id: int
) -> tuple[ClientRequestParts, LoopBodyStream | None]:
    """The client request as the value the app's ``from_client()`` gets, made on the loop
    before ``main()`` starts, and its body stream (read on demand, recorded for a handoff)."""
    body = None
    if exchange.has_body():
        body = LoopBodyStream(calls, exchange.receive_body, exchange.declared_length(), record=True)
    host = header_value(exchange.headers, "host")
    authority = host.decode("latin-1") if host else "{}:{}".format(*exchange.addresses.server)
    parts = ClientRequestParts(
        method=exchange.method,
        url=f"http://{authority}{exchange.target}",
        version=f"HTTP/{exchange.http_version}",
        headers=tuple(exchange.headers),
        body=body,
        client_ip=client_ip,
        server_ip=_server_ip(exchange.addresses.server[0]),
        request_id=f"{request_id:032x}",
    )
    return parts, body


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
        calls = Calls(services.loop)
        parts, body = client_request(exchange, calls, client_ip, request_id)
        scope = RequestScope(services, request_id, calls, exchange.start_soon, body)
        host = Hostcalls(scope, parts)
        scope.bind_app = host.bound
        watch = call_later(WATCH_AFTER, exchange.start_soon, self._watch_client, exchange, scope)
        try:
            exit = MainExit()
            services.workers.submit(self._main_in_thread, (host, exit), scope.main_returned)
            await scope.decided.wait()
            watch.cancel()
            try:
                await self._carry_out(exchange, scope, record, exit)
            except SendError as exc:  # a backend failed while its body streamed out
                record.error = str(exc)
                raise ClientGone from None
            except LocalProtocolError as exc:  # e.g. a body shorter than its length
                record.error = str(exc)
                raise ClientGone from None
            if not scope.main_done.is_set():
                await self._wait_main(exchange, scope)
        except ClientGone:
            scope.client_left()  # what main() still waits for fails at once
            raise
        finally:
            watch.cancel()
            if isinstance(scope.decision, Stream):
                scope.decision.sink.abort()  # a writer still going gets an error
            if scope.backend_calls or scope.pending_calls:
                with anyio.CancelScope(shield=True):
                    await scope.close()
            self._log_main_error(scope, record)
            if tap is not None:
                tap.flush()
            record.status = exchange.response_status
            record.bytes_sent = exchange.response_bytes
            record.notes = scope.notes
            services.log.request(record)

    async def _wait_main(self, exchange: Exchange, scope: RequestScope) -> None:
        """Wait for main() to return after it answered, unless the client leaves first."""
        while not scope.main_done.is_set():
            with anyio.move_on_after(WATCH_INTERVAL):
                await scope.main_done.wait()
            if not scope.main_done.is_set() and exchange.client_left():
                raise ClientGone

    async def _watch_client(self, exchange: Exchange, scope: RequestScope) -> None:
        """Until the app decides, check now and then whether its client hung up."""
        while not scope.decided.is_set():
            if exchange.client_left():
                scope.client_left()
                return
            with anyio.move_on_after(WATCH_INTERVAL):
                await scope.decided.wait()

    def _log_main_error(self, scope: RequestScope, record: RequestRecord) -> None:
        """An error main() raised after it had answered (or after its client left)."""
        error, decision = scope.main_error, scope.decision
        if error is None or decision is None or isinstance(decision, Failed):
            return
        if isinstance(error, ClientLeft) or isinstance(decision, ClientWentAway):
            record.error = record.error or "client went away"
            return
        self._log_error(scope.request_id, "main() raised after it answered the client", error)

    def _log_error(self, request_id: int, what: str, error: BaseException) -> None:
        """The app's error in the terminal: rich's traceback of its own frames (plain text
        in JSON logs), our frames with -v."""
        log, path = self.services.log, self.services.app.path
        verbose = log.verbose > 0
        if log.json:
            text = plain_text(error, path, verbose)
        else:
            text = terminal_text(error, path, verbose=verbose, colour=log.colour_err)
        log.error(f"#{request_id} {what}:\n{text}")

    # -- the app's thread ------------------------------------------------------------------
    def _main_in_thread(self, host: Hostcalls, exit: MainExit) -> None:
        services = self.services
        app = services.app
        if changed := app.refresh():
            services.log.info(f"app reloaded ({', '.join(changed)} changed)")
        AppOutput.bind(services.log, host.request_id)
        token = current_request.set(host.request_id)  # the loop calls it makes inherit it
        try:
            with host.bound(), environ.bound({"FASTLY_TRACE_ID": host.trace_id}, services.env):
                call_main(app.main_of(app.instantiate()), exit, app.path)
        finally:
            current_request.reset(token)
            AppOutput.bind(None)

    # -- the connection task ---------------------------------------------------------------
    async def _carry_out(
        self, exchange: Exchange, scope: RequestScope, record: RequestRecord, exit: MainExit
    ) -> None:
        log = self.services.log
        match scope.decision:
            case ClientWentAway():
                record.error = "client went away"
                raise ClientGone
            case Respond(response) | Stream(response):
                sink = scope.decision.sink if isinstance(scope.decision, Stream) else None
                if log.verbose:
                    log.headers(scope.request_id, "<", list(response.headers))
                    log_response_body(log, scope.request_id, response)
                record.grip = grip_hold(response.headers)  # the console's channels
                await deliver_response(exchange, response, self.date(), self.services.workers, sink)
            case Handoff() as handoff:
                await relay_handoff(exchange, scope, handoff, record)
            case Failed(error) if (gone := _client_cause(error)) is not None:
                # the app failed because its client broke off (or sent a broken body): answer
                # that (a 400/408 if it is still there), not with a traceback of the app
                record.error = str(gone)
                raise gone
            case Failed(error):
                record.error = message(error)
                self._log_error(scope.request_id, "main() raised", error)
                record.error_page = error_page(
                    error,
                    self.services.app.path,
                    exchange.method,
                    exchange.target,
                    exchange.headers,
                )
                content_type, body = error_body(
                    error,
                    self.services.app.path,
                    exchange.addresses.client[0],  # the real peer (only loopback sees details)
                    exchange.method,
                    exchange.target,
                    exchange.headers,
                    verbose=log.verbose > 0,
                )
                await send_text(exchange, error_status(error), body, self.date(), content_type)
            case Returned():  # main() returned without answering: Viceroy sends an empty 200
                if warning := self.services.app.unanswered(exit):
                    log.warning(warning)  # once per line it returned from
                await send_text(exchange, 200, "", self.date(), content_type=None)
            case None:
                raise AssertionError("carried out before anything was decided")
