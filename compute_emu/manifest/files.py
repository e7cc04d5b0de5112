"""Reading the files fastly.toml names: regular files only, each under a size cap.

A manifest may come from a starter fetched from a git URL, so the files it names are not
trusted to be sensible: a FIFO would block start-up forever and ``/dev/zero`` would be read
until memory runs out. Every file the manifest or the platform reads goes through
:func:`read_file`, which looks at the file with ``os.stat`` before opening it (special files
are refused without being opened), opens it with ``O_NONBLOCK`` (a file swapped for a FIFO in
between cannot block), checks again on the open descriptor and reads at most the cap.

Nested data is bounded too: Python's TOML and JSON parsers recurse, so documents nested more
than :data:`MAX_NESTING` levels deep are refused with a one-line error instead of a
``RecursionError``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: fastly.toml itself and the data files it names: config/KV/secret store files, geolocation,
#: device detection and ACL JSON, TLS certificates and keys.
DATA_FILE_MAX_BYTES = 16 * 1024 * 1024
#: ``[scripts] env_file``.
ENV_FILE_MAX_BYTES = 1024 * 1024
#: Arrays, tables and objects nested deeper than this are refused (TOML and JSON).
MAX_NESTING = 100
#: The longest path, and path component, the system takes (bytes; Linux's values where the
#: system does not say).
PATH_MAX_BYTES = 4096
NAME_MAX_BYTES = 255

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(OSError):
    """A file that is not read: special (FIFO, device, directory, socket) or too large.

    ``strerror`` is the reason, worded to follow ``cannot read "PATH": ``.
    """


def _mebibytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def _check_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    raise FileRefused(errno.EINVAL, f"not a regular file (it is {kind})")


def _too_large(size: int | None, limit: int, what: str) -> FileRefused:
    shown = f"{size:,} bytes" if size is not None else "it"
    return FileRefused(errno.EFBIG, f"{shown} is over the {_mebibytes(limit)} limit for {what}")


def read_file(
    path: Path | str, limit: int | None, what: str = "files named in fastly.toml"
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (``None``: no cap).

    Raises ``FileRefused`` (an ``OSError``) for a special file or one over the cap, and the
    usual ``OSError`` for a missing or unreadable one. Never blocks on a FIFO.
    """
    if "\0" in str(path):  # os.stat would raise ValueError, not an OSError
        raise FileRefused(errno.EINVAL, "the path contains a NUL character")
    _check_regular(os.stat(path).st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        _check_regular(info.st_mode)  # it may have been replaced since the stat
        if limit is not None and info.st_size > limit:
            raise _too_large(info.st_size, limit, what)
        chunks: list[bytes] = []
        total = 0
        while True:
            want = 1024 * 1024 if limit is None else min(1024 * 1024, limit + 1 - total)
            chunk = os.read(fd, max(want, 1))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if limit is not None and total > limit:  # it grew while we read it
                raise _too_large(None, limit, what)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _system_limit(name: str, default: int) -> int:
    try:
        return os.pathconf("/", name)
    except (OSError, ValueError, AttributeError):  # not on this system
        return default


def path_problem(path: str) -> str | None:
    """Why ``path`` (a file or a command named in fastly.toml, resolved) cannot name a file,
    or ``None``: a NUL (no system call takes it), another control character (a file name
    with a newline or an escape is a mistake, or an attempt to forge a log line), or a length
    over the system's limits (which every system call would refuse)."""
    if "\0" in path:
        return "the path contains a NUL character"
    control = next((c for c in path if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F), None)
    if control is not None:
        return f"the path contains the control character {control!r} (U+{ord(control):04X})"
    size = len(os.fsencode(path))
    limit = _system_limit("PC_PATH_MAX", PATH_MAX_BYTES)
    if size >= limit:
        return f"the path is {size:,} bytes long; the system's limit is {limit - 1:,}"
    name_limit = _system_limit("PC_NAME_MAX", NAME_MAX_BYTES)
    longest = max(path.split(os.sep), key=lambda part: len(os.fsencode(part)))
    if len(os.fsencode(longest)) > name_limit:
        shown = longest[:20] + "..."
        return (
            f"the path has a name of {len(os.fsencode(longest)):,} bytes ({shown!r}); "
            f"the system's limit is {name_limit}"
        )
    return None


def nesting_problem(value: Any, limit: int = MAX_NESTING) -> tuple[str | int, ...] | None:
    """The key path of a value nested more than ``limit`` levels deep in ``value``, if any.

    Iterative (no recursion), so it is safe on any depth.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, key = stack.pop()
        if len(key) > limit:
            return key
        children: Any
        if isinstance(item, Mapping):
            children = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        stack.extend((child, (*key, name)) for name, child in children)
    return None
