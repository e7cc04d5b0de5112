"""Serving an official-SDK app: its entry's ``HttpIncoming`` takes the place of ``main()``.

Per request, as on Compute: a fresh instance of the entry module (``App``), a fresh sandbox
(the SDK's per-instance globals start empty), ``HttpIncoming().handle(request, body)`` with
the client request. Everything else (fastly.toml, backends, stores, Pushpin, logs, reload)
is the same server as for a ``compute_emu.sdk`` app.
"""

from __future__ import annotations

import platform
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AppLoadError, UserError
from ..runtime.app import App
from ..sdk._request import Request
from . import (
    handles,
    interfaces,  # noqa: F401  (importing it registers every implementation)
    world,
)
from .detect import OfficialEntry, check_interpreter

if TYPE_CHECKING:
    from ..log import RequestLog

DIFFERENCES = (
    "runs natively on CPython {version} (no Wasm build); on Compute it runs on CPython "
    "compiled to Wasm. Works here but not on Compute: C extension modules, imports made "
    "during a request (Compute snapshots the imports made when the entry loads), files, "
    "sockets, threads and subprocesses. The HTTP cache API, cache replace, image optimizer, "
    "shielding, security and the other interfaces compute-emu lacks raise Unsupported. "
    "The entry module runs afresh for every request, but modules it imports keep their state "
    "(on Compute every request starts from the snapshot). Before deploying, check the real "
    "Wasm build: `compute-emu build && compute-emu serve --wasm`."
)

# Module globals of the SDK that a Wasm sandbox starts afresh for every request:
# (module, attribute) -> the per-request type that stands in for them here.
SANDBOX_GLOBALS: dict[tuple[str, str], type] = {
    ("fastly_compute.requests.backend", "_dynamic_backends"): handles.SandboxSet,
}


class OfficialApp(App):
    """An app whose entry exports ``HttpIncoming`` instead of ``main()``."""

    def main_of(self, module: types.ModuleType) -> Callable[[], object]:
        export = getattr(module, "HttpIncoming", None)
        if export is None or not callable(export):
            raise AppLoadError(
                f"{self.path}: an official fastly-compute app must define HttpIncoming at the "
                "top level (a class with handle(request, body), or WsgiHttpIncoming(app))"
            )

        def main() -> None:
            isolate_sdk_globals()  # the app's top level may just have imported the SDK
            with handles.sandbox() as state:
                request = Request.from_client()
                state.downstream = request
                body = handles.new_body(request.take_body())
                export().handle(handles.new("http_req", "Request", request), body)

        return main


def isolate_sdk_globals() -> list[str]:
    """Replace the SDK's per-sandbox globals with per-request ones; the names replaced.

    Only in SDK modules already imported: importing ``fastly_compute`` here would run its
    ``patch()`` for an app that never imports it, turning the WIT's ``Err`` into the SDK's
    exceptions (in a build that happens only if the app imports it)."""
    done = []
    for (module_name, attr), kind in SANDBOX_GLOBALS.items():
        module = sys.modules.get(module_name)
        if module is not None and not isinstance(getattr(module, attr, kind()), kind):
            setattr(module, attr, kind())
            done.append(f"{module_name}.{attr}")
    return done


def load(entry: OfficialEntry, project_dir: Path, log: RequestLog) -> OfficialApp:
    """Install the bindings (before the app imports fastly_compute) and compile the entry."""
    check_interpreter(project_dir)
    root = world.stubs_dir()
    if root is None:
        raise UserError(
            "the installed fastly-compute has no testing/stubs/wit_world (the bindings' names "
            "and types compute-emu reads): reinstall it: pip install 'fastly-compute>=0.1.3,<0.2'"
        )
    try:
        world.install(root)
    except RuntimeError as exc:
        raise UserError(f"cannot serve an official fastly-compute app: {exc}") from None
    app = OfficialApp(entry.path)
    log.info(f"official fastly-compute {_sdk_version() or ''} app ({entry.reason})")
    log.info("  " + DIFFERENCES.format(version=platform.python_version()))
    return app


def _sdk_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fastly-compute")
    except PackageNotFoundError:
        return None
