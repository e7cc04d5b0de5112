"""A ``compute_emu.sdk`` app served through the SDK's Wasm host, natively: the loopback.

``compute-emu serve --sdk-host wit`` (``COMPUTE_EMU_SDK_HOST=wit``; hidden, for compute-emu's
own tests) runs each request the way a component built by ``compute-emu build`` does, minus
the Wasm: ``main()`` runs on a ``compute_emu.sdk._wit_host.WitHost``, so every SDK call goes
app -> SDK -> Wasm host -> ``wit_world`` (compute-emu's implementation, this package) -> the
native SDK objects -> the native host. What ``main()`` raises reaches the runtime, which
answers and logs it as for a native app (a component answers it itself: ``serve_request``).
It needs the ``wit_world`` stubs of an installed ``fastly-compute`` (Python >= 3.12), as
official-SDK apps do.

One ``current_host`` serves both sides, so the crossing is switched in one place,
:func:`native_side`: every ``wit_world`` function runs with the request's native host bound,
while the app's own SDK calls see the Wasm host.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..runtime.app import App
from ..sdk import _host
from ..sdk._request import Request
from . import (
    handles,
    interfaces,  # noqa: F401  (importing it registers every implementation)
    world,
)

if TYPE_CHECKING:
    from ..log import RequestLog

# The request's native host, while its main() runs on the Wasm host (None outside one).
_native: ContextVar[Any] = ContextVar("compute_emu_loopback_native", default=None)


def native_side(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (a ``wit_world`` function) run with the native host bound, when it is called
    from an app on the Wasm host: the crossing from the component's side to the host's."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        native = _native.get()
        if native is None:
            return func(*args, **kwargs)
        token = _host._current.set(native)
        try:
            return func(*args, **kwargs)
        finally:
            _host._current.reset(token)

    return call


class LoopbackApp(App):
    """A ``compute_emu.sdk`` app whose ``main()`` runs on the Wasm host."""

    def main_of(self, module: types.ModuleType) -> Callable[[], object]:
        main = super().main_of(module)
        # imports wit_world, which exists once install() has run (loopback_app below)
        from ..sdk._wit_host import WitHost

        def run() -> None:
            with handles.sandbox() as state:  # what official-SDK requests get: see serving.py
                request = Request.from_client()
                state.downstream = request
                body = handles.new_body(request.take_body())
                token = _native.set(_host.current_host("the Wasm host's loopback"))
                try:  # what main() raises goes to the runtime, as a native app's does
                    WitHost(handles.new("http_req", "Request", request), body).run(main)
                finally:
                    _native.reset(token)

        return run


def loopback_app(path: Path, log: RequestLog) -> LoopbackApp:
    """Install compute-emu's ``wit_world`` (every function behind :func:`native_side`) and
    load the app at ``path`` to run on the Wasm host."""
    root = world.stubs_dir()
    if root is None:
        raise UserError(
            "--sdk-host wit (COMPUTE_EMU_SDK_HOST=wit) needs the wit_world stubs of "
            "fastly-compute (Python >= 3.12): bash scripts/official-env, then run "
            ".venv-official/bin/compute-emu serve"
        )
    try:
        world.install(root, wrap=native_side)
    except RuntimeError as exc:
        raise UserError(f"--sdk-host wit: {exc}") from None
    log.info("compute_emu.sdk runs on its Wasm host over compute-emu's wit_world (--sdk-host wit)")
    return LoopbackApp(path)
