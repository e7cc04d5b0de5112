"""Ports for Pushpin (and a server that must know its own port in advance), picked free."""

from __future__ import annotations

import random
import socket
import threading

# Below Linux's ephemeral range (32768-60999): a port picked here is never the one the kernel
# hands a moment later to a bind(0) or an outgoing connection of someone else.
LOW, HIGH = 20000, 32000
_handed_out: set[int] = set()  # never the same port twice to two emulators of one process
_lock = threading.Lock()


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port free on 127.0.0.1 now, from below the ephemeral range."""
    with _lock:
        for _ in range(500):
            port = random.randint(LOW, HIGH)
            if port not in _handed_out and _free(port):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH} on 127.0.0.1")


def release(port: int) -> None:
    """The emulator that had ``port`` is done with it."""
    with _lock:
        _handed_out.discard(port)
