"""`fastly compute serve` flags that mean nothing here, accepted so existing command lines run.

Each is taken, and a one-line note says why it changes nothing (`serve` runs the Python
source, or with --wasm the package `compute-emu build` made: it builds nothing itself and runs
no Viceroy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_RELOAD = "compute-emu reloads the app on every save already"
_NO_BUILD = "compute-emu serve builds nothing (compute-emu build makes the Wasm package)"
_NO_WASM = "compute-emu serve makes no Wasm package (compute-emu build does; serve --wasm runs it)"
_NO_VICEROY = "compute-emu does not use Viceroy"

# name -> (takes a value, why it changes nothing)
IGNORED: dict[str, tuple[bool, str]] = {
    "watch": (False, _RELOAD),
    "watch-dir": (True, _RELOAD + " (it watches the project directory)"),
    "skip-build": (False, _NO_BUILD),
    "timeout": (True, _NO_BUILD),
    "include-source": (False, _NO_WASM),
    "language": (True, "the language is Python"),
    "package-name": (True, _NO_WASM),
    "metadata-disable": (False, _NO_WASM),
    "metadata-filter-envvars": (True, _NO_WASM),
    "metadata-show": (False, _NO_WASM),
    "profile-guest": (False, _NO_WASM + " (profile the app with py-spy or cProfile)"),
    "profile-guest-dir": (True, _NO_WASM),
    "viceroy-args": (True, _NO_VICEROY),
    "viceroy-check": (False, _NO_VICEROY),
    "viceroy-path": (True, _NO_VICEROY),
    "accept-defaults": (False, "compute-emu never prompts"),
    "auto-yes": (False, "compute-emu never prompts"),
    "non-interactive": (False, "compute-emu never prompts"),
}


def _param(name: str) -> str:
    return "ignored_" + name.replace("-", "_")


def fastly_flags(func: F) -> F:
    """Add the options of :data:`IGNORED` (hidden from --help) to a click command."""
    for name, (takes_value, _why) in IGNORED.items():
        option = click.option(
            f"--{name}",
            _param(name),
            is_flag=not takes_value,
            default=None,
            hidden=True,
            expose_value=True,
        )
        func = option(func)
    return func


def take_notes(kwargs: dict[str, Any]) -> list[str]:
    """Remove the ignored options from ``kwargs``; a note for each one that was given."""
    notes = []
    for name, (_takes_value, why) in IGNORED.items():
        value = kwargs.pop(_param(name), None)
        if value not in (None, False):
            notes.append(f"--{name} ignored: {why}")
    return notes
