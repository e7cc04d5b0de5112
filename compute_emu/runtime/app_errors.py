"""An error the app raised, as people read it: the app's own frames and one clean message.

compute-emu's frames (the SDK, the bridge to the loop, anyio, ``concurrent.futures``) sit
between the app's call and the error, ~30 lines of them for a ``Request.send`` to an unknown
backend; they are hidden (``-v`` shows them), with a count. A ``SendError`` is shown by its
detail, which says what is wrong and how to fix it, rather than by Rust's ``Display`` text
(``str()`` keeps that, for apps that match on it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import sys
import threading
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio

import compute_emu

from ..errors import AppLoadError
from ..sdk._errors import SendError, SendErrorCause


def _dir_of(module: types.ModuleType) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(str(module.__file__))), "")


# Frames from these directories are compute-emu's (or the machinery it runs on), not the app's.
_OURS = (
    _dir_of(compute_emu),
    _dir_of(anyio),
    _dir_of(concurrent.futures),
    _dir_of(asyncio),
    os.path.abspath(threading.__file__),
)


DEFAULT_WIDTH = 100  # columns when the output is no terminal (a log file, CI, a pipe)
MIN_WIDTH = 40  # narrower, rich's frames would be mostly border


def output_width(stream: TextIO | None = None) -> int:
    """The columns to draw a traceback in: ``COLUMNS`` if set, else the width of the terminal
    ``stream`` (default: the process's stderr) is, else :data:`DEFAULT_WIDTH`. Read each
    time: the terminal may have been resized."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    stream = sys.__stderr__ if stream is None else stream
    try:
        fd = stream.fileno() if stream is not None else -1
        if fd >= 0 and os.isatty(fd):
            return max(os.get_terminal_size(fd).columns, MIN_WIDTH)
    except (AttributeError, OSError, ValueError):
        pass
    return DEFAULT_WIDTH


def is_ours(filename: str) -> bool:
    """True for a frame of compute-emu, anyio, asyncio, threading or ``concurrent.futures``."""
    return filename.startswith(_OURS)


def message(error: BaseException) -> str:
    """The error in one line: ``SendError: no backend named 'x' in fastly.toml (known: a)``."""
    if isinstance(error, SendError) and error.detail:
        cause = error.root_cause()
        if cause is SendErrorCause.UnknownBackend:  # the detail names the backend
            return f"SendError: {error.detail}"
        what = "" if cause is SendErrorCause.InternalError else f"{cause.description}: "
        return f"SendError: {what}{error.detail} (backend {error.backend_name()!r})"
    if isinstance(error, AppLoadError):
        return str(error)
    return "".join(traceback.format_exception_only(type(error), error)).strip()


@dataclass
class Frames:
    """The frames of an error from the app's first frame on, split into the app's and ours."""

    shown: list[traceback.FrameSummary]  # in call order
    hidden: int  # our frames left out
    tb: types.TracebackType | None  # a traceback of the shown frames only (for rich)


def frames(error: BaseException, app_file: Path, verbose: bool = False) -> Frames:
    """From the first frame in ``app_file`` on; without our frames unless ``verbose``."""
    entries: list[types.TracebackType] = []
    tb = error.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    app = str(app_file)
    for i, entry in enumerate(entries):
        if entry.tb_frame.f_code.co_filename == app:
            entries = entries[i:]
            break
    kept = (
        entries if verbose else [e for e in entries if not is_ours(e.tb_frame.f_code.co_filename)]
    )
    if not kept:  # the error is ours alone: show where it happened
        kept = entries
    rebuilt: types.TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = types.TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    summary = list(traceback.extract_tb(rebuilt)) if rebuilt is not None else []
    return Frames(summary, len(entries) - len(kept), rebuilt)


def _hidden_note(hidden: int) -> str:
    return f"({hidden} compute-emu frame{'s' if hidden != 1 else ''} hidden; -v shows them)"


def plain_text(error: BaseException, app_file: Path, verbose: bool = False) -> str:
    """A short traceback: the app's frames, the clean message (an AppLoadError: the message)."""
    if isinstance(error, AppLoadError):
        return str(error)
    found = frames(error, app_file, verbose)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(found.shown)]
    if found.hidden:
        lines.append(_hidden_note(found.hidden) + "\n")
    lines.append(message(error))
    return "".join(lines).rstrip()


def terminal_text(
    error: BaseException,
    app_file: Path,
    *,
    verbose: bool = False,
    colour: bool = False,
    width: int | None = None,
) -> str:
    """rich's traceback of the app's frames (colour on a terminal), then the clean message;
    ``width`` columns wide (default: :func:`output_width`, the terminal's)."""
    if isinstance(error, AppLoadError):
        return str(error)
    from rich.console import Console
    from rich.traceback import Traceback

    found = frames(error, app_file, verbose)
    out = io.StringIO()
    console = Console(
        file=out,
        force_terminal=colour,
        no_color=not colour,
        width=output_width() if width is None else width,
        highlight=False,
    )
    rendered = Traceback.from_exception(
        type(error), error, found.tb, show_locals=False, extra_lines=1, max_frames=40
    )
    stacks = rendered.trace.stacks[:1]  # the error itself (its context is not the app's)
    stacks[0].exc_value = message(error).removeprefix(f"{stacks[0].exc_type}: ")
    rendered.trace.stacks = stacks
    console.print(rendered)
    text = out.getvalue().rstrip()
    if found.hidden:
        text += "\n" + _hidden_note(found.hidden)
    return text
