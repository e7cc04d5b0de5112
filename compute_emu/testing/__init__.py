"""Start compute-emu from tests: ``Emulator``, mock backends, stream readers, a pytest plugin.

.. code-block:: python

    from compute_emu.testing import Emulator, MockResponse

    def test_home():
        with Emulator("path/to/project", backends={"origin": lambda req: "hi"}) as emu:
            assert emu.get("/").text == "hi"

The pytest plugin (``compute_emu.testing.plugin``, registered through the ``pytest11`` entry
point) adds the fixtures ``compute_emu``, ``compute_emu_module`` and ``mock_backend`` and the
marker ``@pytest.mark.compute_emu(project=..., **overrides)``.
"""

from ._emulator import PUBLISH, SELF, Emulator
from ._log import LoggedRequest
from ._mock import MockBackend, MockRequest, MockResponse, MockResult
from ._stream import SSEEvent, SSEParser, StreamReader
from ._websocket import WebSocketClient, WebSocketClosed

__all__ = [
    "PUBLISH",
    "SELF",
    "Emulator",
    "LoggedRequest",
    "MockBackend",
    "MockRequest",
    "MockResponse",
    "MockResult",
    "SSEEvent",
    "SSEParser",
    "StreamReader",
    "WebSocketClient",
    "WebSocketClosed",
]
