"""The official-SDK app the serve --wasm tests build: the fanout-forward-official starter
(``starter.py``, its main.py unchanged) for every path but ``/wasm/*``, which checks the
component's side of the host: output, environment, errors, traps, buffer sizes."""

import os
from urllib.parse import urlsplit

import fastly_compute  # noqa: F401  (WIT errors raise the SDK's exceptions)
import starter
from wit_world import exports
from wit_world.imports import http_body, http_resp, shielding


def respond(status: int, text: str) -> None:
    response = http_resp.Response.new()
    response.set_status(status)
    response.insert_header("content-type", b"text/plain")
    body = http_body.new()
    http_body.write(body, text.encode())
    http_resp.send_downstream(response, body)


def read_all(body) -> bytes:
    data = b""
    while chunk := http_body.read(body, 65536):
        data += chunk
    return data


class HttpIncoming(exports.HttpIncoming):
    def handle(self, request, body) -> None:
        path = urlsplit(request.get_uri(4096)).path
        if not path.startswith("/wasm/"):
            starter.HttpIncoming().handle(request, body)
        elif path == "/wasm/hello":
            print("printed by the component")
            respond(200, "hello from the component\n")
        elif path == "/wasm/echo":
            respond(200, read_all(body).decode())
        elif path == "/wasm/env":
            names = sorted(k for k in os.environ if k.startswith("FASTLY_"))
            respond(200, "\n".join(f"{k}={os.environ[k]}" for k in names))
        elif path == "/wasm/header":  # asks for 16 bytes: the host retries with the length
            value = request.get_header_value("x-big", 16) or b""
            respond(200, f"{len(value)} {value[:10].decode()}")
        elif path == "/wasm/unsupported":  # an import that returns the WIT's Unsupported
            try:
                http_body.append_trailer(body, "x-trailer", b"1")
            except Exception as exc:
                respond(501, f"{type(exc).__name__}")
        elif path == "/wasm/unimplemented":  # an import with no error type: it traps
            shielding.ShieldBackendOptions()
            respond(200, "not reached")
        elif path == "/wasm/socket":
            import socket  # the build warns: no sockets on Compute

            respond(200, socket.gethostname())
        elif path == "/wasm/raise":
            raise ValueError("raised by the component")
        else:
            respond(404, "no such test route\n")
