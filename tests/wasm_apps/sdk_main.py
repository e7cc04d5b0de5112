"""The compute_emu.sdk app the serve --wasm tests build: the fanout-forward starter
(``starter.py``, its main.py unchanged) for every path but ``/wasm/*``."""

import starter

from compute_emu.sdk import Request, Response


class _ClientRequest:
    """Stands in for ``Request`` in the starter: its ``from_client()`` is the one already taken."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def from_client(self) -> Request:
        return self._request


def main() -> None:
    req = Request.from_client()
    path = req.get_path()
    if not path.startswith("/wasm/"):
        starter.Request = _ClientRequest(req)  # a fresh instance per request: no leak
        starter.main()
    elif path == "/wasm/hello":
        print("printed by main() in the component")
        Response.from_body("hello from compute_emu.sdk in the component\n").send_to_client()
    elif path == "/wasm/raise":
        raise ValueError("raised by main() in the component")
    elif path == "/wasm/socket":
        import socket  # the build warns: no sockets on Compute

        Response.from_body(socket.gethostname()).send_to_client()
    else:
        Response.from_body("no such test route\n").with_status(404).send_to_client()
