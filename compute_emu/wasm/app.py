"""``compute-emu serve --wasm``: the built component takes the place of the app's ``main()``.

The component's ``handle`` runs where ``main()`` runs for a native app: on the app's worker
thread, with the request's native host bound, so everything around it is the same server
(fastly.toml, backends, stores, cache, Pushpin, logs, error pages). Its ``fastly:compute``
imports are served by ``compute_emu/official/``'s ``wit_world`` implementation, whose names
and types come from the build environment's ``fastly-compute`` (:mod:`.environment`).
A rebuilt component file is picked up without a restart, as edits are for a native app.
"""

from __future__ import annotations

import os
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AppLoadError, UserError
from ..runtime.app import App

if TYPE_CHECKING:
    from ..log import RequestLog
    from ..manifest import Manifest
    from .component import Loaded

DEFAULT_PATH = Path("bin") / "main.wasm"
GUEST_PREFIX = "FASTLY_"  # what a Compute guest sees of its environment


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class WasmApp(App):
    """A built component, loaded once per build, instantiated per request."""

    def __init__(self, path: Path, log: RequestLog) -> None:  # no Python entry to compile
        self.path = path.resolve()
        self.name = self.path.stem
        self.dir = self.path.parent
        self.log = log
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._broken: str | None = None
        self._warned_return = None
        self._stamp = _stamp(self.path)
        self.loaded = self._load()

    def _load(self) -> Loaded:
        from .component import artifact_path, load
        from .paths import file_digest

        digest = file_digest(self.path) if self.path.is_file() else None
        if digest is not None and not artifact_path(digest).is_file():
            self.log.info(f"compiling {self.path.name} (once per build; ~15-50 s)...")
        loaded = load(self.path, digest)
        how = (
            "from the cache"
            if loaded.compiled_in is None
            else f"compiled in {loaded.compiled_in:.1f} s"
        )
        self.log.info(f"component {self.path} ({how}; ready in {loaded.loaded_in:.2f} s)")
        return loaded

    def _reload(self) -> list[str]:
        """Under the lock: load a rebuilt component; the changed file."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return []
        self._stamp = stamp
        try:
            self.loaded = self._load()
            self._broken = None
        except UserError as exc:
            self._broken = str(exc)
        return [os.path.relpath(self.path, self.dir)]

    def instantiate(self) -> types.ModuleType:
        """The component as a module whose ``main()`` runs one request in a new instance."""
        if self._broken is not None:
            raise AppLoadError(self._broken)
        module = types.ModuleType(self.name)
        module.__file__ = str(self.path)
        loaded = self.loaded
        module.main = lambda: serve_one(loaded)  # type: ignore[attr-defined]
        return module

    def check(self) -> None:
        """Loaded in ``__init__``: nothing more to check before serving."""


def serve_one(loaded: Loaded) -> None:
    """One request: the client request and body as WIT handles, ``handle()`` in a fresh
    instance, in a fresh sandbox (as ``official/serving.py`` does for a native official app)."""
    from ..official import handles
    from ..sdk._request import Request
    from .instance import run

    with handles.sandbox() as state:
        request = Request.from_client()
        state.downstream = request
        body = handles.new_body(request.take_body())
        env = {k: v for k, v in os.environ.items() if k.startswith(GUEST_PREFIX)}
        run(loaded, handles.new("http_req", "Request", request), body, env)


def wasm_app(path: Path, manifest: Manifest, build_env: Path | None, log: RequestLog) -> WasmApp:
    """The component at ``path`` (relative to the project), with the ``wit_world`` bindings
    installed from the build environment's fastly-compute."""
    from ..official import world
    from . import environment

    try:
        import wasmtime  # noqa: F401
    except ImportError:
        raise UserError(
            "serve --wasm needs wasmtime (PyPI): pip install 'compute-emu[wasm]'"
        ) from None
    root = world.stubs_dir()
    if root is None:
        env = environment.find(manifest.project_dir, build_env)
        root = env.stubs()
        if root is None:
            raise UserError(
                f"{env.root} ({env.reason}): its fastly-compute has no testing/stubs/wit_world "
                f"(the bindings' names and types): {env.python} -m pip install "
                f"'{environment.SDK_SPEC}'"
            )
        log.debug(
            f"wit_world bindings from {root} ({env.reason}, fastly-compute {env.sdk_version()})"
        )
    from ..official import interfaces  # noqa: F401  (registers the implementations first)
    from . import stub_cache

    try:
        world.install(root, reader=stub_cache.read)
    except RuntimeError as exc:
        raise UserError(f"cannot serve the component: {exc}") from None
    component = path if path.is_absolute() else manifest.project_dir / path
    return WasmApp(component, log)
