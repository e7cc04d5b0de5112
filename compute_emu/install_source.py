"""Where this compute-emu comes from, for the commands that install it into another
environment: compute-emu is not on PyPI, so ``pip install compute-emu`` cannot work.

The answer, in order: the source tree this package runs from (a checkout, an editable
install), else what pip recorded it was installed from (PEP 610's ``direct_url.json``: a
folder, a git URL and commit, an archive URL), else a placeholder saying what to put there.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import compute_emu

DISTRIBUTION = "compute-emu"
PLACEHOLDER = "/path/to/compute-emu"  # a checkout of it: it is not on PyPI


def _checkout(root: Path) -> bool:
    """Whether ``root`` is compute-emu's source tree (its pyproject.toml names it)."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == DISTRIBUTION


def _recorded() -> str | None:
    """What pip recorded this distribution was installed from, as pip takes it again."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        record = json.loads(text) if text else None
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(url := record.get("url"), str):
        return None
    vcs = record.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git":
        commit = vcs.get("commit_id")
        return f"git+{url}@{commit}" if commit else f"git+{url}"
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        return str(path) if path.exists() else None
    return url


def install_source() -> str | None:
    """A folder, URL or ``git+`` URL that ``pip install`` takes to install this compute-emu;
    None if it cannot be told."""
    root = Path(compute_emu.__file__).resolve().parent.parent
    if _checkout(root):
        return str(root)
    return _recorded()


def install_spec(extras: str = "") -> str:
    """The (shell-quoted) argument for ``pip install``: this compute-emu's source, with
    ``extras`` (``"test"``) if given; :data:`PLACEHOLDER` if its source cannot be told."""
    source = install_source() or PLACEHOLDER
    suffix = f"[{extras}]" if extras else ""
    if source.startswith(("git+", "http://", "https://")):
        return shlex.quote(f"{DISTRIBUTION}{suffix} @ {source}")
    return shlex.quote(f"{source}{suffix}")
