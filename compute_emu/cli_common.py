"""What the commands share: the flags that name the project, and an error said once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def project_options(func: F) -> F:
    """Add ``-C/--dir``, ``--env`` and ``--file`` (the project and its entry) to a command."""
    for option in reversed(
        (
            click.option(
                "-C",
                "--dir",
                "project_dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=Path("."),
                help="Project directory (where fastly.toml is).",
            ),
            click.option(
                "--env", default=None, help="Read fastly.ENV.toml instead of fastly.toml."
            ),
            click.option(
                "--file",
                "file",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="App entry file (default: [scripts] entry in fastly.toml, else src/main.py).",
            ),
        )
    ):
        func = option(func)
    return func


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr (``error:`` in red where colour is on) and exit 1."""
    click.secho("error: ", fg="red", bold=True, err=True, nl=False)
    click.echo(message, err=True)
    sys.exit(1)
