"""When compute-emu's output goes away while it serves: a closed terminal, a pipe's reader gone.

Writing to a hung-up terminal fails with EIO, and to a pipe nobody reads with EPIPE. A server
must not stop for that (nor lose the clean stop that a closed terminal's SIGHUP asks for): the
descriptor is pointed at /dev/null and what would have been shown is dropped.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TextIO


def leave_terminal(device: int | None = None) -> None:
    """Point stdin, stdout and stderr at /dev/null where they are a terminal (``device``: only
    where they are that one, by ``st_rdev``). Pipes and files stay.

    (A hung-up terminal no longer passes ``isatty()``; it is still a character device.)
    """
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            info = os.fstat(fd)
            if stat.S_ISCHR(info.st_mode) and device in (None, info.st_rdev):
                _to_devnull(fd)


def output_lost(stream: TextIO, exc: OSError) -> bool:
    """Whether ``exc``, raised by a write to ``stream``, means its reader is gone: EIO from a
    terminal (hung up), EPIPE from a pipe or socket. If so, the stream now writes to /dev/null
    (and, for a terminal, so do the process's other descriptors on it), and the caller drops
    what it was writing. Any other error is the caller's to raise."""
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
    except (OSError, ValueError):  # no descriptor (io.UnsupportedOperation is an OSError)
        return False
    terminal = stat.S_ISCHR(info.st_mode)
    if not (exc.errno == errno.EPIPE or (exc.errno == errno.EIO and terminal)):
        return False
    _to_devnull(fd)
    if terminal:
        leave_terminal(info.st_rdev)
    return True


def _to_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
