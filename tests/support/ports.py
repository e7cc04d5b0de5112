"""Ports for tests that must name a port in advance (Pushpin's, a backend that is down)."""

from __future__ import annotations

import random
import socket

# Below Linux's ephemeral range (32768-60999): a port picked here is never the one the
# kernel hands to a `bind(0)` or an outgoing connection of another process a moment later
# (that race once made a Pushpin port "already in use" in CI).
LOW, HIGH = 20000, 32000


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the ephemeral range."""
    for _ in range(200):
        port = random.randint(LOW, HIGH)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH}")
