"""Locks on the cache's entries: two processes that build the same sources at once (two
``compute-emu build`` of one project, or of two copies of it) take turns, so neither reads or
removes a build the other is writing. A lock is ``fcntl.flock`` on a file beside the entry,
let go when the process lets go of it or ends."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def lock_file(entry: Path) -> Path:
    """The lock file of the cache entry ``entry`` (a folder): ``ENTRY.lock`` beside it."""
    return entry.with_name(f"{entry.name}.lock")


@contextmanager
def held(entry: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """Hold ``entry``'s lock until the block ends, calling ``waiting()`` once first when
    another process holds it."""
    path = lock_file(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    told = False
    while True:
        with path.open("a") as file:
            if not _take(file):
                if not told:
                    waiting()
                    told = True
                fcntl.flock(file, fcntl.LOCK_EX)
            if _still_there(path, file):
                yield
                return
        # its holder removed the entry (and the lock file) while we waited: take the new one


@contextmanager
def unless_held(entry: Path) -> Iterator[bool]:
    """``entry``'s lock if no process holds it (True; the lock file goes at the end, for the
    block removes the entry), else False at once."""
    path = lock_file(entry)
    with path.open("a") as file:
        if not _take(file):
            yield False
            return
        try:
            yield True
        finally:
            path.unlink(missing_ok=True)


def _take(file: IO[str]) -> bool:
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _still_there(path: Path, file: IO[str]) -> bool:
    """Whether the file locked is still the one at ``path`` (not removed while we waited)."""
    try:
        return os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return False
