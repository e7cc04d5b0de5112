"""`compute-emu init`: a new project from a starter kit, like `fastly compute init --from`.

The starter is a folder, a built-in starter's name, or a git URL (cloned shallowly). It is
copied whole into a temporary sibling of the target first, so a failure leaves nothing
half-written; only then is it moved (new directory) or merged file by file (--force).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import re
import shlex
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .install_source import install_spec
from .official.detect import find_entry
from .starters import is_excluded, open_starter

OFFICIAL_SDK = "fastly-compute>=0.1.3,<0.2"  # what official SDK projects are tested with
STEP_WIDTH = 48  # commands longer than this get their note on a line of their own

# entries that don't make a target directory "non-empty"
IGNORED_IN_TARGET = frozenset({".git", ".DS_Store"})


# -- fastly.toml ---------------------------------------------------------------------------
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
_KEY = r"""(?:name|"name"|'name')"""
_VALUE = r"""(?:"(?:[^"\\\r\n]|\\.)*"|'[^'\r\n]*'|[^\s#"'][^#\r\n]*?)"""
_NAME_LINE = re.compile(rf"^(?P<head>[ \t]*{_KEY}[ \t]*=[ \t]*){_VALUE}(?P<tail>[ \t]*(?:#.*)?)$")
_VERSION_LINE = re.compile(
    r"""^[ \t]*(?:manifest_version|"manifest_version"|'manifest_version')[ \t]*="""
)


def toml_basic_string(value: str) -> str:
    """``value`` as a TOML basic string, quotes included."""
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _parse(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def set_manifest_name(text: str, name: str) -> str:
    """``text`` (a fastly.toml) with its top-level ``name`` set, every other byte kept.

    The value of an existing top-level ``name = ...`` line is replaced; without one, a
    ``name`` line goes after ``manifest_version`` (or before the first non-comment line).
    Each candidate edit is checked with tomllib: only ``name`` may change.
    """
    original = _parse(text)
    if original is None:
        raise UserError("the starter's fastly.toml is not valid TOML")
    expected = {**original, "name": name}
    quoted = toml_basic_string(name)
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if "\r\n" in text else "\n"
    candidates: list[list[str]] = []
    if "name" in original:
        for i, line in enumerate(lines):
            body = line.rstrip("\r\n")
            match = _NAME_LINE.match(body)
            if match:
                edited = match["head"] + quoted + match["tail"] + line[len(body) :]
                candidates.append([*lines[:i], edited, *lines[i + 1 :]])
    else:
        insert = f"name = {quoted}{newline}"
        for i, line in enumerate(lines):
            if _VERSION_LINE.match(line):
                ended = line if line.endswith(("\n", "\r")) else line + newline
                candidates.append([*lines[:i], ended, insert, *lines[i + 1 :]])
        first = next(
            (
                i
                for i, line in enumerate(lines)
                if line.strip() and not line.lstrip().startswith("#")
            ),
            len(lines),
        )
        if first == len(lines) and lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        candidates += [[*lines[:first], insert, *lines[first:]], [insert, *lines]]
    for candidate in candidates:
        edited_text = "".join(candidate)
        if _parse(edited_text) == expected:
            return edited_text
    raise UserError(
        "cannot set the name in the starter's fastly.toml: write it on one line "
        'at the top, as name = "..."'
    )


# -- copying ---------------------------------------------------------------------------------
def _copy_file(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst, follow_symlinks=False)
    shutil.copymode(src, dst)


def _copy_tree(src: Path, dst: Path, root: Path) -> int:
    """Copy the starter (minus exclusions) into ``dst``; returns the number of files."""
    count = 0
    try:
        for entry in sorted(os.scandir(src), key=lambda entry: entry.name):
            source, target = Path(entry.path), dst / entry.name
            if is_excluded(entry.name):
                continue
            if entry.is_symlink():
                os.symlink(os.readlink(source), target)
                count += 1
            elif entry.is_dir():
                target.mkdir()
                count += _copy_tree(source, target, root)
            elif entry.is_file():
                _copy_file(source, target)
                count += 1
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else src
        if where.is_relative_to(root):
            raise UserError(f"cannot read starter file {where}: {exc.strerror}") from None
        raise UserError(f"cannot write {where}: {exc.strerror}") from None
    return count


def _conflict(staged: Path, target: Path) -> Path | None:
    """A path that is a folder on one side and a file on the other, if any."""
    for here, dirs, files in os.walk(staged):
        rel = Path(here).relative_to(staged)
        for name in dirs:
            existing = target / rel / name
            if existing.exists() and not existing.is_dir():
                return existing
        for name in files:
            if (target / rel / name).is_dir():
                return target / rel / name
    return None


def _merge(staged: Path, target: Path) -> None:
    """Move every staged file over its namesake in ``target``, keeping other files."""
    for here, dirs, files in os.walk(staged):
        rel = Path(here).relative_to(staged)
        for name in dirs:
            if not Path(here, name).is_symlink():
                (target / rel / name).mkdir(exist_ok=True)
        for name in [*files, *(d for d in dirs if Path(here, d).is_symlink())]:
            src, dst = Path(here, name), target / rel / name
            try:
                os.replace(src, dst)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise UserError(f"cannot write {dst}: {exc.strerror}") from None
                shutil.copy2(src, dst, follow_symlinks=False)


@dataclass(frozen=True)
class InitResult:
    directory: Path
    name: str
    files: int
    starter: str


def _check_target(directory: Path, force: bool) -> bool:
    """True if ``directory`` exists (and may be written into)."""
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} exists and is not a directory")
    if not directory.exists():
        return False
    try:
        leftover = [p.name for p in directory.iterdir() if p.name not in IGNORED_IN_TARGET]
    except OSError as exc:
        raise UserError(f"cannot read {directory}: {exc.strerror}") from None
    if leftover and not force:
        raise UserError(
            f"{directory} is not empty ({len(leftover)} entries); choose an empty or new "
            "directory with --directory, or pass --force to write the starter's files into it"
        )
    return True


def _staging_dir(target: Path, exists: bool) -> Path:
    """A temporary sibling of ``target`` (inside it if the parent is not writable)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=target.parent))
        umask = os.umask(0o022)
        os.umask(umask)
        staged.chmod(0o777 & ~umask)  # it becomes the project folder: not mkdtemp's 0700
        return staged
    except OSError as exc:
        if exists:
            with contextlib.suppress(OSError):
                return Path(tempfile.mkdtemp(prefix=".compute-emu-init-", dir=target))
        raise UserError(f"cannot create {target}: {exc.strerror}") from None


def _set_name(manifest: Path, name: str) -> None:
    try:
        text = manifest.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("the starter's fastly.toml is not UTF-8 text") from None
    manifest.write_bytes(set_manifest_name(text, name).encode("utf-8"))


def init_project(source: str, directory: Path, name: str | None, force: bool) -> InitResult:
    """Create a project in ``directory`` from the starter ``source``."""
    target = directory.expanduser().absolute()
    exists = _check_target(target, force)
    if name is None:
        name = target.resolve().name
        if not name:
            raise UserError(f"cannot name the service after {target}; pass --name")
    elif not name.strip():
        raise UserError("--name must not be empty")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UserError(f"the name {name!r} is not valid text; pass --name") from None
    with open_starter(source) as (starter, described):
        if target.resolve() == starter or starter in target.resolve().parents:
            raise UserError(f"the project directory {target} is inside the starter {starter}")
        # nearest first, so that only the (empty) folders we made are removed on failure
        created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        done = False
        staged = _staging_dir(target, exists)
        try:
            files = _copy_tree(starter, staged, starter)
            _set_name(staged / "fastly.toml", name)
            if exists:
                if conflict := _conflict(staged, target):
                    raise UserError(f"{conflict}: a file and a folder of the same name clash")
                _merge(staged, target)
            else:
                staged.rename(target)
            done = True
        finally:
            shutil.rmtree(staged, ignore_errors=True)
            for folder in [] if done else created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return InitResult(target, name, files, described)


def next_steps(result: InitResult, cwd: Path | None = None) -> str:
    """What to run next, for people. An official fastly-compute SDK project gets its own
    Python 3.12+ environment first (``.venv``, with this compute-emu installed from where it
    came from: it is not on PyPI), and its commands run from there."""
    cwd = (cwd or Path.cwd()).resolve()
    directory = result.directory.resolve()
    shown = str(directory.relative_to(cwd)) if directory.is_relative_to(cwd) else str(directory)
    steps: list[tuple[str, str]] = []
    if directory != cwd:
        steps.append((f"cd {shlex.quote(shown)}", ""))
    official = find_entry(directory, None) is not None
    venv = ".venv/bin/" if official else ""
    if official:
        steps.append(
            (
                f"python3.12 -m venv .venv && .venv/bin/pip install {install_spec('test')} "
                f"{shlex.quote(OFFICIAL_SDK)}",
                "the official SDK needs Python 3.12+ (and this compute-emu, with pytest)",
            )
        )
    serve_note, publish_note = "then open http://127.0.0.1:7676/", "from another terminal"
    if (directory / "origin" / "app.py").is_file():
        if (directory / "origin" / "requirements.txt").is_file():
            steps.append((f"{venv}pip install -r origin/requirements.txt", "what the origin needs"))
        steps.append((f"{venv}python origin/app.py", "the example origin: keep it running"))
        serve_note, publish_note = f"in a second terminal; {serve_note}", "from a third one"
    steps.append((f"{venv}compute-emu serve", serve_note))
    steps.append(
        (f'{venv}compute-emu publish test "hello"', f"{publish_note}: publish to channel test")
    )
    if (directory / "tests").is_dir():
        if not official and not has_pytest():
            steps.append(("pip install 'pytest>=8'", "pytest is not installed here yet"))
        run_tests = f"{venv}python -m pytest" if official else "pytest"
        steps.append((run_tests, "the starter's tests (compute_emu.testing; origin mocked)"))
    width = max(len(command) for command, _ in steps) + 2
    lines = [
        f"Created {toml_basic_string(result.name)} in {directory} "
        f"from the {result.starter} ({result.files} files).",
        "",
        "Next steps:",
        *(_step(command, note, width) for command, note in steps),
    ]
    return "\n".join(lines)


def has_pytest() -> bool:
    """Whether pytest is installed where compute-emu runs (where its plugin is)."""
    return importlib.util.find_spec("pytest") is not None


def _step(command: str, note: str, width: int) -> str:
    """``  command   # note``; a command too long to align gets its note on the line above."""
    if not note:
        return f"  {command}"
    if len(command) > STEP_WIDTH:
        return f"  # {note}\n  {command}"
    return f"  {command:<{min(width, STEP_WIDTH + 2)}}# {note}"
