"""``Emulator``: a compute-emu server (and its Pushpin) started and stopped by a test.

The server runs in the test's process, on an event loop of its own in a thread (a blocking
portal), so ``with Emulator(...)`` works in plain tests and ``async with`` in async ones. What
it starts is stopped on exit: the server, Pushpin (by PID, through its supervisor), the mock
backends it made, the streams it opened.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx

from ..errors import UserError, user_error_in
from ..manifest import load_manifest
from ..publish import build_item, publish
from ..serve import Server, ServeSettings, parse_client_ip
from ._log import LoggedRequest, RecordingLog
from ._manifest import binary_kv_items, with_overrides
from ._mock import Handler, MockBackend
from ._platform import PlatformAccess
from ._ports import free_port, release
from ._stream import StreamReader
from ._websocket import WebSocketClient

START_TIMEOUT = 30.0
LOG_TIMEOUT = 5.0  # how long log_of() waits for a request's log line
_ENTRY = "compute_emu.logged"  # where request() keeps a response's log entry


_running: set[int] = set()  # id() of the emulators started and not yet stopped


def running() -> bool:
    """Whether an Emulator of this process is running."""
    return bool(_running)


class _Own:
    """A backend override naming a port of the emulator itself (:data:`SELF`, :data:`PUBLISH`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: A backend override meaning "this emulator" (the fanout starter's ``self`` backend).
SELF = _Own("SELF")
#: A backend override meaning "this emulator's publish port": the app publishes through it as
#: it would through a backend to ``https://api.fastly.com`` (``/service/<id>/publish/``).
PUBLISH = _Own("PUBLISH")

BackendTarget = str | Mapping[str, Any] | MockBackend | Handler | _Own


class Emulator(PlatformAccess):
    """A compute-emu server for one project, for tests.

    ``project_dir`` is where fastly.toml is. Overrides (all optional):

    - ``backends``: name to a URL (the fastly.toml backend's other keys, e.g.
      ``override_host``, are kept), a whole backend table (a dict), a :class:`MockBackend`,
      a function ``handler(MockRequest) -> MockResult`` (a mock backend is started for it),
      :data:`SELF` (this emulator) or :data:`PUBLISH` (its publish port: the app's own
      publishing reaches the streams of this emulator, and only those);
    - ``kv_stores`` / ``config_stores`` / ``secret_stores``: store name to ``{key: value}``;
      each replaces (or adds) that store whole;
    - ``env_vars``: what the app sees in ``os.environ`` on top of fastly.toml's;
    - ``pushpin``: force Fanout on or off (default: as fastly.toml says). Pushpin's ports
      are always picked free, so emulators run side by side;
    - ``port`` (0: any free), ``env`` (fastly.ENV.toml), ``file`` (entry file),
      ``client_ip``, ``allow_hosts``, ``verbose``, ``cache`` (False: `--no-cache`).

    While it runs, an edit to the app is picked up by the next request (as with `compute-emu
    serve`), but edits to fastly.toml are not applied: the overrides stay in force, and a
    ``[local_server.pushpin]`` change does not restart it.
    """

    def __init__(
        self,
        project_dir: str | Path = ".",
        *,
        backends: Mapping[str, BackendTarget] | None = None,
        kv_stores: Mapping[str, Mapping[str, str | bytes]] | None = None,
        config_stores: Mapping[str, Mapping[str, str]] | None = None,
        secret_stores: Mapping[str, Mapping[str, str | bytes]] | None = None,
        env_vars: Mapping[str, str] | None = None,
        pushpin: bool | None = None,
        port: int = 0,
        env: str | None = None,
        file: str | Path | None = None,
        client_ip: str | None = None,
        allow_hosts: tuple[str, ...] = (),
        verbose: bool = False,
        cache: bool = True,
    ) -> None:
        self.project_dir = Path(project_dir).resolve()
        self._backends = dict(backends or {})
        self._kv = {name: dict(items) for name, items in (kv_stores or {}).items()}
        self._config = dict(config_stores or {})
        self._secrets = dict(secret_stores or {})
        self._env_vars = dict(env_vars or {})
        self._pushpin = pushpin
        self._port = port
        self._env = env
        self._file = Path(file).resolve() if file is not None else None
        self._client_ip = client_ip
        self._allow_hosts = tuple(allow_hosts)
        self._cache = cache
        self.log = RecordingLog(verbose=verbose)
        self.mocks: dict[str, MockBackend] = {}  # the mock backends this emulator started
        self._server: Server | None = None
        self._portal_cm: AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._future: Any = None
        self._address: tuple[str, int] | None = None
        self._ports: list[int] = []
        self._streams: list[StreamReader | WebSocketClient] = []
        self._client: httpx.Client | None = None

    # -- starting and stopping --------------------------------------------------------------
    def start(self) -> Emulator:
        """Start the server (and Pushpin); returns once it serves. Raises ``UserError`` for
        what `compute-emu serve` would refuse to start with (a bad fastly.toml, no Pushpin)."""
        if self._server is not None:
            raise RuntimeError("this Emulator is already started")
        try:
            for attempt in range(3):
                try:
                    self._start_once()
                    break
                except UserError as exc:  # a port taken between the pick and the bind
                    self._stop_server()
                    if "already in use" not in str(exc) or attempt == 2:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def _start_once(self) -> None:
        manifest = load_manifest(self.project_dir, self._env)
        pushpin_on = manifest.pushpin.enable if self._pushpin is None else self._pushpin
        port = self._port
        if port == 0 and any(target is SELF for target in self._backends.values()):
            port = self._pick_port()  # the app must know its own URL before it starts
        proxy_port = self._pick_port() if pushpin_on else None
        publish_port = self._pick_port() if pushpin_on else None
        urls = {
            name: self._backend_url(name, target, port, publish_port)
            for name, target in self._backends.items()
        }
        manifest = with_overrides(
            manifest,
            backends=urls,
            kv_stores=self._kv,
            config_stores=self._config,
            secret_stores=self._secrets,
            pushpin=self._pushpin,
        )
        settings = ServeSettings(
            project_dir=self.project_dir,
            env=self._env,
            port=port,
            file=self._file,
            verbose=self.log.verbose > 0,
            enable_pushpin=False,
            pushpin_proxy_port=proxy_port,
            pushpin_publish_port=publish_port,
            client_ip=parse_client_ip(self._client_ip),
            allow_hosts=self._allow_hosts,
            no_cache=not self._cache,
            watch_manifest=False,  # fastly.toml edits would replace the overrides
        )
        server = self._server = Server(settings, self.log, manifest)
        server.app_env.update(self._env_vars)
        for store, key, value in binary_kv_items(self._kv):
            server.platform.kv_stores[store].insert(key, value)
        self._portal_cm = anyio.from_thread.start_blocking_portal("asyncio")
        portal = self._portal_cm.__enter__()
        ready = threading.Event()

        def on_ready(address: tuple[str, int]) -> None:
            self._address = address
            ready.set()

        run = functools.partial(server.run, on_ready, handle_signals=False)
        self._future = portal.start_task_soon(run, name=f"compute-emu {self.project_dir}")
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.02):
            if self._future.done():
                exc = self._future.exception()
                raise (user_error_in(exc) or exc) if exc else RuntimeError("server stopped")
            if time.monotonic() > deadline:
                raise TimeoutError(f"compute-emu did not start within {START_TIMEOUT}s")
        self._client = httpx.Client(base_url=self.url, trust_env=False, timeout=30.0)
        _running.add(id(self))

    def _pick_port(self) -> int:
        port = free_port()
        self._ports.append(port)
        return port

    def _backend_url(
        self, name: str, target: BackendTarget, port: int, publish_port: int | None
    ) -> str | Mapping[str, Any]:
        if target is SELF:
            return f"http://127.0.0.1:{port}/"
        if target is PUBLISH:
            if publish_port is None:
                raise UserError(
                    f"backend {name!r} is PUBLISH, but Fanout is off for this project: set "
                    "[local_server.pushpin] enable = true in fastly.toml, or pass pushpin=True"
                )
            return f"http://127.0.0.1:{publish_port}/"
        if isinstance(target, MockBackend):
            return target.url
        if isinstance(target, str | Mapping):
            return target
        if callable(target):
            if name not in self.mocks:
                self.mocks[name] = MockBackend(target)
            return self.mocks[name].url
        raise TypeError(f"backend {name!r}: cannot point it at {target!r}")

    def _stop_server(self) -> None:
        _running.discard(id(self))
        if self._client is not None:
            self._client.close()
            self._client = None
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        future, self._future = self._future, None
        if future is not None and not future.done():
            future.cancel()  # the server stops Pushpin on its way out
        if self._portal_cm is not None:
            cm, self._portal_cm = self._portal_cm, None
            cm.__exit__(None, None, None)
        self._server = None
        self._address = None
        for port in self._ports:
            release(port)
        self._ports.clear()

    def stop(self) -> None:
        """Stop everything this emulator started (idempotent)."""
        try:
            self._stop_server()
        finally:
            for mock in self.mocks.values():
                mock.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    # -- where it is ------------------------------------------------------------------------
    @property
    def server(self) -> Server:
        if self._server is None:
            raise RuntimeError("the Emulator is not started (use `with Emulator(...)`)")
        return self._server

    @property
    def port(self) -> int:
        if self._address is None:
            raise RuntimeError("the Emulator is not started (use `with Emulator(...)`)")
        return self._address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = self._address[0] if self._address else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def publish_url(self) -> str:
        """Where `compute-emu publish --url` would point (Pushpin's publish port)."""
        settings = self.server.pushpin_settings
        if self.server.pushpin is None:
            raise RuntimeError(
                "Fanout is not enabled for this project: set [local_server.pushpin] "
                "enable = true in fastly.toml, or pass pushpin=True"
            )
        return f"http://127.0.0.1:{settings.publish_port}"

    # -- requests ---------------------------------------------------------------------------
    @property
    def client(self) -> httpx.Client:
        """An httpx client for the app (relative URLs; no proxies from the environment)."""
        if self._client is None:
            raise RuntimeError("the Emulator is not started (use `with Emulator(...)`)")
        return self._client

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """A new httpx.AsyncClient for the app (close it: ``async with``)."""
        return httpx.AsyncClient(base_url=self.url, trust_env=False, **kwargs)

    def request(self, method: str, path: str = "/", **kwargs: Any) -> httpx.Response:
        """Send a request to the app (httpx's arguments) and read the whole response. Returns
        once its log line is written too (an instant later), so :attr:`requests` has it;
        :meth:`log_of` gives it."""
        since = self.log.count()
        response = self.client.request(method, path, **kwargs)
        target = response.request.url.raw_path.decode("ascii")
        response.extensions[_ENTRY] = (method.upper(), target, since)
        with contextlib.suppress(TimeoutError):  # no line yet: log_of() waits again
            self.log_of(response, timeout=2.0)
        return response

    def get(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str = "/", **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def log_of(self, response: httpx.Response, timeout: float = LOG_TIMEOUT) -> LoggedRequest:
        """The request log entry of a response from :meth:`request` (with the lines the app
        printed for it); waits for it if the request is still finishing."""
        key = response.extensions.get(_ENTRY)
        if key is None:
            raise ValueError("log_of() knows the responses of Emulator.request() only")
        if not isinstance(key, LoggedRequest):
            method, target, since = key
            key = self.log.wait_for(method, target, since, timeout)
            response.extensions[_ENTRY] = key
        return key

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request logged so far (in the order they completed)."""
        return list(self.log.requests)

    def stream(self, path: str = "/", headers: dict[str, str] | None = None) -> StreamReader:
        """Open a long-lived GET (an HTTP stream, SSE) read in a thread; closed on exit."""
        reader = StreamReader(self.url + path, headers)
        self._streams.append(reader)
        return reader

    def websocket(
        self, path: str = "/", headers: dict[str, str] | None = None, timeout: float = 10.0
    ) -> WebSocketClient:
        """Open a WebSocket to the app (``send_text``, ``receive_text``, ``close``); closed on
        exit. Raises ConnectionError if the app refuses it."""
        client = WebSocketClient("127.0.0.1", self.port, path, headers, timeout=timeout)
        self._streams.append(client)
        return client

    # -- Fanout ------------------------------------------------------------------------------
    def publish(
        self,
        channel: str,
        message: str | None = None,
        *,
        format: str | Sequence[str] = "http-stream",
        to: StreamReader | None = None,
        timeout: float = 10.0,
        **options: Any,
    ) -> str:
        """Publish one item to Pushpin, as `compute-emu publish` does (``format``:
        ``http-stream``, ``sse``, ``ws-message``, ``http-response``, or several of them;
        ``options``: ``event``, ``id``, ``prev_id``, ``action``, ``code``, ``newline``).

        With ``to``, publish again until that stream has received the message (a
        subscription can take a moment to settle after the response head arrives); raises
        TimeoutError if it never does.
        """
        item = build_item(channel, message, fmt=format, **options)
        if to is None:
            return publish(self.publish_url, item)
        payload = next(iter(item["formats"].values()))
        expected = str(payload.get("content", payload.get("body", ""))).encode()
        before = len(to.received)
        deadline = time.monotonic() + timeout
        while True:
            answer = publish(self.publish_url, item)
            wait_until = min(time.monotonic() + 0.5, deadline)
            while time.monotonic() < wait_until:
                if expected in to.received[before:] or (not expected and to.received[before:]):
                    return answer
                time.sleep(0.01)
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"channel {channel!r}: the stream did not receive {expected[:60]!r} "
                    f"within {timeout}s"
                )
