"""Loading the app: compile its entry file once, run a fresh module instance per request.

Like a Compute instance per request, module-level state of the entry file does not carry over
between requests. Other modules the app imports are cached in ``sys.modules`` as usual.
"""

from __future__ import annotations

import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path

from ..errors import AppLoadError


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


class App:
    """An app entry file, compiled once and instantiated per request."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.name = self.path.stem
        if not self.path.is_file():
            raise AppLoadError(
                f"{path}: app entry file not found (set [scripts] entry in fastly.toml, "
                "pass --file, or create src/main.py)"
            )
        try:
            source = self.path.read_bytes()
        except OSError as exc:
            raise AppLoadError(f"{path}: cannot read app entry file: {exc.strerror}") from None
        try:
            self._code = compile(source, str(self.path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = f"{self.path}:{exc.lineno}" + (f":{exc.offset}" if exc.offset else "")
            raise AppLoadError(f"{where}: syntax error in app: {exc.msg}") from None
        app_dir = str(self.path.parent)
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)  # so the app can import its sibling modules

    def instantiate(self) -> types.ModuleType:
        """A fresh module object with the entry file's top level run in it."""
        module = types.ModuleType(self.name)
        module.__file__ = str(self.path)
        exec(self._code, module.__dict__)
        return module

    def check(self) -> None:
        """Instantiate once at start-up, so import errors and a missing main() show now."""
        try:
            module = self.instantiate()
        except Exception as exc:
            detail = _short_traceback(exc, self.path)
            raise AppLoadError(
                f"{self.path}: the app failed to load: {type(exc).__name__}: {exc}\n{detail}"
            ) from None
        self.main_of(module)

    def main_of(self, module: types.ModuleType) -> Callable[[], object]:
        """The module's ``main``; an AppLoadError if it has none."""
        main = getattr(module, "main", None)
        if not callable(main):
            raise AppLoadError(
                f"{self.path}: the app must define a function main() "
                "(undecorated; it calls Request.from_client() itself)"
            )
        return main

    def format_error(self, exc: BaseException) -> str:
        """A traceback of an error raised by the app, from its own frames on."""
        return _short_traceback(exc, self.path)
