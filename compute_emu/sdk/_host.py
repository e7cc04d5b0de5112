"""The host of the running request: bound around ``main()``, found by every SDK call.

The SDK never touches sockets. Every call that needs the outside world goes through the
:class:`~compute_emu.sdk._interface.Host` bound to the current request (values in, values
out). The native runtime binds its host around ``main()``; the Wasm host binds its own; tests
can bind a fake one.

Standard library only, and nothing of the SDK above it: this module is imported on Wasm
CPython too (no threads there, so ``time.thread_time`` may be missing).
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Protocol

from ._interface import Host


class PanicEndpoint(Protocol):
    """Where ``set_panic_endpoint`` sends the traceback of what escapes ``main()``."""

    def write(self, message: str) -> int: ...


def _cpu_clock() -> Callable[[], float]:
    """This thread's CPU clock; the process's where threads have none (Wasm)."""
    for name in ("thread_time", "process_time"):
        clock = getattr(time, name, None)
        if clock is None:
            continue
        try:
            clock()
        except OSError:
            continue
        return clock  # type: ignore[no-any-return]
    return time.monotonic  # no CPU clock at all: wall time is the honest upper bound


_cpu_now = _cpu_clock()
_current: ContextVar[Host | None] = ContextVar("compute_emu_host", default=None)
_cpu_start: ContextVar[float] = ContextVar("compute_emu_cpu_start", default=0.0)
panic_endpoint: ContextVar[PanicEndpoint | None] = ContextVar("compute_emu_panic", default=None)
"""The request's panic endpoint (``compute_emu.sdk.log.set_panic_endpoint`` sets it)."""


def current_host(what: str) -> Host:
    """The host of the running request, or a clear error naming the call ``what``."""
    host = _current.get()
    if host is None:
        raise RuntimeError(
            f"{what} needs a running request: call it from main() under `compute-emu serve`"
        )
    return host


@contextlib.contextmanager
def bind_host(host: Host) -> Iterator[None]:
    """Make ``host`` the current host for the duration of the block (in this thread/context).

    The thread's CPU time at the start is kept for ``compute_runtime.elapsed_vcpu_ms()``; the
    traceback of an exception escaping the block goes to the panic endpoint, if one was set.
    """
    token = _current.set(host)
    cpu = _cpu_start.set(_cpu_now())
    panic = panic_endpoint.set(None)
    try:
        yield
    except BaseException as exc:
        _report_panic(panic_endpoint.get(), exc)
        raise
    finally:
        panic_endpoint.reset(panic)
        _cpu_start.reset(cpu)
        _current.reset(token)


def _report_panic(endpoint: PanicEndpoint | None, exc: BaseException) -> None:
    """The traceback of what escaped ``main()``, to the panic endpoint if one was set."""
    if endpoint is None:
        return
    with contextlib.suppress(Exception):
        for line in "".join(traceback.format_exception(exc)).rstrip().splitlines():
            endpoint.write(line)


def cpu_seconds() -> float:
    """CPU time this thread has used since the current host was bound (0 outside one)."""
    if _current.get() is None:
        return 0.0
    return max(0.0, _cpu_now() - _cpu_start.get())
