"""Starter kits: the built-in ones, and finding the one `init --from` names.

The repository's top-level `starters/` folder is the source of truth for the built-in
starters. A wheel carries it as `compute_emu/_starters/` (pyproject.toml maps that package
directory to `starters/`), so `compute-emu init --from fanout` works from a plain
`pip install` too; in a checkout (or an editable install) `starters/` itself is used.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_STARTERS = PACKAGE_DIR.parent / "starters"
PACKAGED_STARTERS = PACKAGE_DIR / "_starters"

# Never copied out of a starter (also kept out of the wheel: see pyproject.toml)
EXCLUDED_NAMES = frozenset(
    {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", "venv"}
    | {"pushpin-logs", "bin", "pkg", "target", "node_modules", ".DS_Store"}
)
EXCLUDED_SUFFIXES = (".pyc",)
_GIT_URL = re.compile(r"^(?:https?://|ssh://|git://|file://|git@)", re.IGNORECASE)


def is_excluded(name: str) -> bool:
    """True for files and folders a starter never passes on (VCS data, caches, build output)."""
    return name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES)


def is_git_url(source: str) -> bool:
    """https://, ssh://, git://, file://, git@host:... or anything ending in .git."""
    return bool(_GIT_URL.match(source)) or source.rstrip("/").endswith(".git")


def _starters_in(folder: Path) -> dict[str, Path]:
    """Each subfolder of ``folder`` with a fastly.toml, by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return {}
    return {entry.name: entry for entry in entries if (entry / "fastly.toml").is_file()}


def builtin_starters() -> dict[str, Path]:
    """Built-in starters by name (e.g. ``fanout``, ``fanout-forward``), sorted by name."""
    return _starters_in(CHECKOUT_STARTERS) or _starters_in(PACKAGED_STARTERS)


def describe(path: Path) -> str:
    """A starter's one-line description (its fastly.toml's ``description``; "" if none)."""
    try:
        value = tomllib.loads((path / "fastly.toml").read_text()).get("description", "")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return ""
    return " ".join(value.split()) if isinstance(value, str) else ""


def starter_summaries() -> list[tuple[str, str]]:
    """(name, description) of every built-in starter, sorted by name (for help and completion)."""
    return [(name, describe(path)) for name, path in builtin_starters().items()]


def _git_error(stderr: str) -> str:
    """git's ``fatal:``/``error:`` lines on one line (else its last line of stderr)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    return "; ".join(dict.fromkeys(errors)) if errors else (lines or [""])[-1]


def clone(url: str, into: Path) -> Path:
    """``git clone --depth 1 url`` into a new folder under ``into``."""
    git = shutil.which("git")
    if git is None:
        raise UserError(f"git is needed to clone {url} but it is not on PATH")
    dest = into / "starter"
    try:
        result = subprocess.run(
            [git, "clone", "--depth", "1", "--quiet", "--", url, str(dest)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"git clone {url} did not finish within 10 minutes") from None
    if result.returncode != 0:
        why = _git_error(result.stderr) or f"exit status {result.returncode}"
        raise UserError(f"git clone {url} failed: {why}")
    return dest


def _check_starter(path: Path, what: str) -> None:
    if not path.exists():
        raise UserError(f"{what}: no such folder")
    if not path.is_dir():
        raise UserError(f"{what} is not a folder")
    if not (path / "fastly.toml").is_file():
        raise UserError(f"{what} is not a starter: it has no fastly.toml")


def _unknown_starter(source: str, builtins: dict[str, Path]) -> UserError:
    if not builtins:
        return UserError(f"unknown starter {source!r} (no built-in starters in this installation)")
    close = difflib.get_close_matches(source, list(builtins), n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UserError(
        f"unknown starter {source!r}: {hint}built-in starters: {', '.join(builtins)} "
        "(or give a starter folder or a git URL)"
    )


@contextlib.contextmanager
def open_starter(source: str) -> Iterator[tuple[Path, str]]:
    """(folder, description) of the starter ``source``; a clone lives only inside the ``with``.

    A plain name (no slash, not starting with . or ~) is a built-in starter if one has that
    name; write ``./name`` for a local folder that happens to share it.
    """
    if is_git_url(source) and not (Path(source) / "fastly.toml").is_file():
        with tempfile.TemporaryDirectory(prefix="compute-emu-clone-") as tmp:
            path = clone(source, Path(tmp))
            _check_starter(path, f"the repository {source}")
            yield path, f"git repository {source}"
        return
    builtins = builtin_starters()
    plain_name = "/" not in source and os.sep not in source and not source.startswith((".", "~"))
    if plain_name and source in builtins:
        yield builtins[source].resolve(), f"built-in starter {source}"
        return
    path = Path(source).expanduser()
    if plain_name and not path.exists():
        raise _unknown_starter(source, builtins)
    _check_starter(path, f"--from {source}")
    yield path.resolve(), f"starter folder {path.resolve()}"
