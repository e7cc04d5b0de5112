"""In-process HTTP servers of the tests, each on a thread of its own."""

from __future__ import annotations

import socketserver
import threading

POLL = 0.05  # seconds: shutdown() waits up to this long (the default half second, per test)


def serve_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    """Run ``server.serve_forever()`` in a daemon thread, started; ``server.shutdown()`` ends it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
    )
    thread.start()
    return thread
