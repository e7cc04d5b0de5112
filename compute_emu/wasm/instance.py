"""One request through a component: a fresh instance, ``handle(request, body)``, and its end.

As on Compute (and in Viceroy), every request gets a new instance of the component from its
initial state. The instance's WASI stdout and stderr go where ``print()`` goes for a native app
(the request's log lines). A trap ends the request with an error naming what trapped: the
host function and its exception when one of compute-emu's imports failed (the very exception
is raised again, so a client that left or a backend that failed is handled as natively),
else a :class:`ComponentTrap` with the Wasm backtrace's function names and the end of what the
component wrote to stderr (a Python traceback, for an exception that escaped its ``handle``).
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime import component as wc

from . import guest, resources
from .component import Loaded, engine
from .resources import ResourceTable

STDERR_KEPT = 4096  # bytes of the component's stderr kept for a trap's message
_FRAME = re.compile(r"^\s*\d+:\s+0x[0-9a-f]+ - (?:(?P<module>[^!\n]*)!)?(?P<name>.+)$", re.M)


class ComponentTrap(Exception):
    """The component trapped (or its ``handle`` returned an error) by itself."""


def backtrace_names(text: str) -> list[str]:
    """The function names of a wasmtime error's ``wasm backtrace`` (innermost first)."""
    return [m["name"].strip() for m in _FRAME.finditer(text)]


def trap_message(text: str, stderr: str) -> str:
    """What a trap's 500 says: the first line of wasmtime's error, the backtrace's function
    names, and the end of the component's stderr."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    cause = next((ln for ln in lines if not _FRAME.match(ln) and "backtrace" not in ln), "")
    causes = text.split("Caused by:", 1)
    if len(causes) == 2 and causes[1].strip():
        cause = causes[1].strip().splitlines()[0].strip()
    names = backtrace_names(text)
    message = f"the component trapped: {cause or 'no message'}"
    if names:
        shown = names[:12] + ([f"... {len(names) - 12} more"] if len(names) > 12 else [])
        message += "\nwasm backtrace (innermost first): " + " < ".join(shown)
    if stderr.strip():
        message += "\nthe component's stderr ended with:\n" + stderr.strip()
    return message


class _Output:
    """A WASI output stream: decoded and written to ``stream()`` (sys.stdout or sys.stderr,
    which compute-emu routes to the request's log), the end kept for a trap's message."""

    def __init__(self, stream: Callable[[], Any], keep: int = 0) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._keep = keep
        self.tail = ""

    def __call__(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._stream().write(text)
            if self._keep:
                self.tail = (self.tail + text)[-self._keep :]

    def flush(self) -> None:
        text = self._decoder.decode(b"", final=True)
        if text:
            self._stream().write(text)
        self._stream().flush()


def run(loaded: Loaded, request: object, body: object, env: Mapping[str, str]) -> None:
    """``handle(request, body)`` in a fresh instance; ``request``/``body`` are the objects
    ``compute_emu/official/`` made for the client request and its body."""
    stdout = _Output(lambda: sys.stdout)
    stderr = _Output(lambda: sys.stderr, keep=STDERR_KEPT)
    store = Store(engine())
    wasi = WasiConfig()
    wasi.env = list(env.items())
    wasi.stdout_custom = stdout
    wasi.stderr_custom = stderr
    store.set_wasi(wasi)
    table = ResourceTable()
    with resources.bound(table):
        try:
            with guest.running():  # see .guest: values convert on one thread at a time
                result = _call(loaded, store, table, request, body)
        except WasmtimeError as exc:
            raise _failure(exc, table, stderr.tail) from None
        finally:
            stdout.flush()
            stderr.flush()
            table.drop_all()  # the instance is gone: so is every handle it held
    if isinstance(result, wc.Variant) and result.tag == "err":
        raise ComponentTrap(
            "the component's handle() returned an error (on Compute: a 500 if nothing was sent)"
        )


def _call(loaded: Loaded, store: Store, table: ResourceTable, request: object, body: object) -> Any:
    instance = loaded.linker.instantiate(store, loaded.component)
    handle = instance.get_func(store, loaded.handle)
    assert handle is not None
    arguments = (
        table.lower(request, loaded.request_type),
        table.lower(body, loaded.body_type),
    )
    result = handle(store, *arguments)
    handle.post_return(store)
    return result


def _failure(exc: WasmtimeError, table: ResourceTable, stderr: str) -> BaseException:
    names = backtrace_names(str(exc))
    failure = table.failure
    if failure is None:
        return ComponentTrap(trap_message(str(exc), stderr))
    error = failure.error
    where = f"raised in {failure.function}, which the component called"
    if names:
        where += " (wasm backtrace: " + " < ".join(names[:8]) + ")"
    error.add_note(where)
    return error
