"""Loading the app: compile its entry file once, run a fresh module instance per request.

Like a Compute instance per request, module-level state of the entry file does not carry over
between requests. Other modules the app imports are cached in ``sys.modules`` as usual.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import AppLoadError
from .log_handlers import dedupe_handlers

RELOAD_CHECK = 0.25  # seconds between checks of the app's files for changes


def _short_traceback(exc: BaseException, app_file: Path) -> str:
    """The traceback from the first frame in the app's file on (our frames hidden)."""
    frames = list(traceback.extract_tb(exc.__traceback__))
    for i, frame in enumerate(frames):
        if Path(frame.filename) == app_file:
            frames = frames[i:]
            break
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip()


def _stop_message(exc: BaseException, app_file: Path) -> str:
    """One line for a ``BaseException`` that is not an ``Exception`` (``sys.exit()``,
    ``KeyboardInterrupt``, ...) raised by the app's top level, naming file and line."""
    lines = [
        f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == app_file
    ]
    where = f"{app_file}:{lines[-1]}" if lines and lines[-1] is not None else str(app_file)
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else repr(exc.code)
        what = f"called sys.exit({code})"
    else:
        what = f"raised {type(exc).__name__}" + (f"({str(exc)!r})" if str(exc) else "")
    return (
        f"{where}: the app's top level {what} while loading; it must not exit or raise "
        "BaseException (compute-emu runs it for every request: raise an Exception instead)"
    )


_ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def _signature_problem(main: Callable[..., object]) -> str | None:
    """Why ``main`` cannot be called as ``main()``, if it cannot."""
    if inspect.iscoroutinefunction(main) or inspect.isasyncgenfunction(main):
        return (
            "main() is `async def`: compute-emu calls main() in a thread and never awaits it "
            "(as Compute runs it to completion); write `def main():`"
        )
    try:
        parameters = inspect.signature(main).parameters.values()
    except (TypeError, ValueError):
        return None
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not required:
        return None
    return (
        f"main({', '.join(required)}) takes arguments, but it is called with none (as on "
        "Compute): write `def main():` and get the request with `req = Request.from_client()`"
    )


def _return_line(path: Path, main: Callable[..., object]) -> int:
    """The line of main()'s first ``return <value>`` (else of its ``def``)."""
    code = getattr(main, "__code__", None)
    first = code.co_firstlineno if code is not None else 1
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return first
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return) and inner.value is not None:
                    return inner.lineno
    return first


@dataclass
class MainExit:
    """How one ``main()`` call ended: what it returned, and the line of the entry file it
    returned from (None where that is not known: under a profiler, or for an entry that is
    not a plain ``main()``)."""

    main: Callable[[], object] | None = None
    value: object = None
    line: int | None = None


def call_main(main: Callable[[], object], exit: MainExit, app_file: Path) -> None:
    """Call ``main()``, noting in ``exit`` what it returned and from which line of
    ``app_file`` (if main() is defined there).

    The line is read from main()'s own frame once it returned (its last line run). The frame
    is caught by a profile hook that unsets itself at main()'s first event, its call: the
    calls main() makes cost nothing more. A profiler already set (cProfile) is left alone;
    debuggers trace (``sys.settrace``) and are not touched.
    """
    exit.main = main
    code = getattr(main, "__code__", None)
    caught: list[types.FrameType] = []

    def hook(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call":
            sys.setprofile(None)
            if frame.f_code is code:
                caught.append(frame)

    watched = code is not None and code.co_filename == str(app_file) and sys.getprofile() is None
    if watched:
        sys.setprofile(hook)
    try:
        exit.value = main()
    finally:
        if watched and sys.getprofile() is hook:
            sys.setprofile(None)  # main() made no Python call at all (not a function)
        if caught:
            exit.line = caught[0].f_lineno
            caught.clear()  # the frame (and main()'s locals) go now


class App:
    """An app entry file, compiled once and instantiated per request.

    Edits are picked up without a restart: at most every ``RELOAD_CHECK`` seconds the entry
    file and the app's own modules (those imported from its directory) are checked, and on a
    change the entry is recompiled and those modules are imported afresh. A broken edit makes
    requests fail with the error (a 500 naming file and line) until it is fixed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = self.path.stem
        self.dir = self.path.parent
        self._dir_prefix = os.path.join(str(self.dir), "")
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._broken: str | None = None  # why the last edit does not load
        # lines main() returned from without answering, said once each per version of the file
        self._warned: tuple[types.CodeType | None, set[tuple[int | None, bool]]] = (None, set())
        self._code = self._compile()
        self._stamps = self._current_stamps()
        app_dir = str(self.dir)
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)  # so the app can import its sibling modules

    def _compile(self) -> types.CodeType:
        if not self.path.is_file():
            raise AppLoadError(
                f"{self.path}: app entry file not found (set [scripts] entry in fastly.toml, "
                "pass --file, or create src/main.py)"
            )
        try:
            source = self.path.read_bytes()
        except OSError as exc:
            raise AppLoadError(f"{self.path}: cannot read app entry file: {exc.strerror}") from None
        try:
            return compile(source, str(self.path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f"{self.path}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
            raise AppLoadError(f"{where}: syntax error in app: {exc.msg}") from None
        except ValueError as exc:  # some undecodable bytes: a UnicodeDecodeError, not a SyntaxError
            raise AppLoadError(f"{self.path}: app entry file is not Python source: {exc}") from None

    # -- reloading -------------------------------------------------------------------------
    def _local_modules(self) -> dict[str, str]:
        """Modules imported from the app's directory: name -> file (installed packages, such as
        a virtualenv inside the project, and compute-emu itself are not the app's)."""
        found = {}
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if (
                file
                and not name.startswith("compute_emu")
                and "-packages" not in file
                and file.startswith(self._dir_prefix)  # a str test: this runs every 0.25 s
            ):
                found[name] = file
        return found

    def _current_stamps(self) -> dict[str, int]:
        stamps = {}
        for file in [str(self.path), *self._local_modules().values()]:
            try:
                stamps[file] = os.stat(file).st_mtime_ns
            except OSError:
                stamps[file] = -1
        return stamps

    def refresh(self) -> list[str]:
        """Reload what changed since the last check (at most every ``RELOAD_CHECK`` s);
        returns the changed files' names."""
        now = time.monotonic()
        if now < self._next_check:
            return []
        with self._lock:
            if now < self._next_check:
                return []
            self._next_check = now + RELOAD_CHECK
            return self._reload()

    def _reload(self) -> list[str]:
        """Under the lock: recompile the entry and drop the app's changed modules."""
        stamps = self._current_stamps()
        changed = [f for f, stamp in stamps.items() if self._stamps.get(f) != stamp]
        if not changed:
            return []
        for name, file in self._local_modules().items():
            if file != str(self.path):
                del sys.modules[name]  # imported afresh by the next instance
        try:
            self._code = self._compile()
            self._broken = None
        except AppLoadError as exc:
            self._broken = str(exc)
        self._stamps = stamps
        return [os.path.relpath(f, self.dir) for f in changed]

    def instantiate(self) -> types.ModuleType:
        """A fresh module object with the entry file's top level run in it.

        An ``Exception`` raised by the top level passes through; anything else it raises
        (``sys.exit()``, ``KeyboardInterrupt``) becomes an ``AppLoadError``, so it stops
        neither the request's thread nor the server. So does a broken edit, each time a new
        exception with the same message (no traceback piling up on one cached exception).
        """
        if self._broken is not None:
            raise AppLoadError(self._broken)
        module = types.ModuleType(self.name)
        module.__file__ = str(self.path)
        try:
            exec(self._code, module.__dict__)
        except Exception:
            raise
        except BaseException as exc:
            raise AppLoadError(_stop_message(exc, self.path)) from None
        dedupe_handlers()  # what the top level added to logging again (see log_handlers.py)
        return module

    def check(self) -> None:
        """Instantiate once at start-up, so import errors and a missing main() show now."""
        try:
            module = self.instantiate()
        except AppLoadError:
            raise
        except Exception as exc:
            detail = _short_traceback(exc, self.path)
            raise AppLoadError(
                f"{self.path}: the app failed to load: {type(exc).__name__}: {exc}\n{detail}"
            ) from None
        self.main_of(module)

    def main_of(self, module: types.ModuleType) -> Callable[[], object]:
        """The module's ``main``; an AppLoadError if it has none, or one that cannot be
        called with no arguments (``def main(req)``, ``async def main()``)."""
        main = getattr(module, "main", None)
        if not callable(main):
            raise AppLoadError(
                f"{self.path}: the app must define a function main() "
                "(undecorated; it calls Request.from_client() itself)"
            )
        code = getattr(main, "__code__", None)
        if (
            code is not None
            and (code.co_argcount or code.co_kwonlyargcount or code.co_flags & _ASYNC)
            and (problem := _signature_problem(main))
        ):
            raise AppLoadError(f"{self.path}:{code.co_firstlineno}: {problem}")
        return main

    def unanswered(self, exit: MainExit) -> str | None:
        """A warning for a main() that returned without answering its client (the client got
        an empty 200), once per line it returned from in each version of the entry file: a
        returned Response (``#[fastly::main]``, Flask and Workers return one) or nothing."""
        from ..sdk._response import Response

        returned_response = isinstance(exit.value, Response)
        code, said = self._warned
        if code is not self._code:
            code, said = self._code, set()
            self._warned = (code, said)
        if (exit.line, returned_response) in said:
            return None
        said.add((exit.line, returned_response))
        if returned_response:
            line = exit.line or (_return_line(self.path, exit.main) if exit.main else 1)
            return (
                f"{self.path}:{line}: main() returned a Response, which goes nowhere: the "
                "client got an empty 200. Send it instead: resp.send_to_client() (main() "
                "returns nothing)"
            )
        where = f"{self.path}:{exit.line}" if exit.line else str(self.path)
        return (
            f"{where}: {'main()' if exit.line else 'the app'} returned without answering the "
            "client, which got an empty 200: "
            "send a response (resp.send_to_client(), or stream_to_client()) or hand the "
            "request off (req.handoff_fanout(backend)) before main() returns"
        )

    def format_error(self, exc: BaseException) -> str:
        """A traceback of an error raised by the app, from its own frames on; for an app
        that cannot load, just the message (which names file and line)."""
        from .app_errors import plain_text

        return plain_text(exc, self.path)
