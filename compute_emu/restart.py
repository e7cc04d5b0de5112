"""A restart of `compute-emu serve` that keeps its listening socket (for Pushpin changes).

The running server dups its listening socket (inheritable), stops as on Ctrl-C (Pushpin
included), and execs itself with the same command line and ``COMPUTE_EMU_LISTEN_FD`` set; the
new process listens on that socket instead of binding again. Clients that connect meanwhile
wait in the socket's backlog and are answered by the new process; the address and port stay
the same (also with ``--addr 127.0.0.1:0``). What lives only in memory (KV writes) starts
afresh, as after any restart.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys

from .aio.listener import Listener

ENV = "COMPUTE_EMU_LISTEN_FD"


class Restart(Exception):
    """Raised by a task of a running server to restart it (see :func:`exec_again`)."""


def restart_in(error: BaseException) -> bool:
    """True if ``error`` (maybe an exception group, nested) carries a :class:`Restart`."""
    if isinstance(error, Restart):
        return True
    if isinstance(error, BaseExceptionGroup):
        return any(restart_in(inner) for inner in error.exceptions)
    return False


def _fd_dir() -> str:
    return "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"


def keep_listening_socket(address: tuple[str, int]) -> int | None:
    """Dup the socket listening on ``address`` (inheritable) and name it in the environment;
    the new fd, or None if there is no such socket."""
    for name in os.listdir(_fd_dir()):
        if not name.isdigit():
            continue
        fd = int(name)
        try:
            probe = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            listening = probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            if listening and probe.getsockname()[:2] == address:
                kept = probe.detach()
                os.set_inheritable(kept, True)
                os.environ[ENV] = str(kept)
                return kept
        except OSError:
            pass
        finally:
            if probe.fileno() != -1:
                probe.close()
    return None


def exec_again() -> None:
    """Replace this process with the same `compute-emu` command line (never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "compute_emu", *sys.argv[1:]])


def inherited_socket() -> socket.socket | None:
    """The listening socket a restart handed over (taken once), if any."""
    value = os.environ.pop(ENV, None)
    if value is None or not value.isdigit():
        return None
    with contextlib.suppress(OSError):
        sock = socket.socket(fileno=int(value))
        os.set_inheritable(sock.fileno(), False)
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return sock
        sock.close()
    return None


async def adopt(sock: socket.socket) -> Listener:
    """A :class:`Listener` on the listening socket a restart handed over."""
    return await Listener.on_socket(sock)
