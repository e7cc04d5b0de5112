"""Ports for tests that must name a port in advance (Pushpin's, a backend that is down)."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Mapping

# Below Linux's ephemeral range (32768-60999): a port picked here is never the one the
# kernel hands to a `bind(0)` or an outgoing connection of another process a moment later
# (that race once made a Pushpin port "already in use" in CI).
LOW, HIGH = 20000, 32000

_given: set[int] = set()  # handed out by this process: not again while others are free


def worker_range(environ: Mapping[str, str]) -> range:
    """The ports this pytest-xdist worker picks from: a slice of LOW..HIGH of its own, so two
    workers never pick the same port between one's probe and its server's bind (that race
    made a Pushpin port "already in use by python" under three workers)."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    count = environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and worker[2:].isdigit() and count.isdigit()):
        return range(LOW, HIGH + 1)
    index, workers = int(worker[2:]), max(int(count), 1)
    size = (HIGH + 1 - LOW) // workers
    return range(LOW + index * size, LOW + (index + 1) * size)


def free_port() -> int:
    """A port free on 127.0.0.1 now, outside the ephemeral range and in this worker's slice,
    not one this process handed out before (while others are free)."""
    ports = worker_range(os.environ)
    for attempt in range(400):
        port = random.choice(ports)
        if port in _given and attempt < 200:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port between {ports.start} and {ports.stop - 1}")
