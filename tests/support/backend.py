"""A real HTTP/1.1 backend for end-to-end tests, run as its own process.

`python -m tests.support.backend` listens on 127.0.0.1:0 and prints `PORT <n>` when ready.
Endpoints (any method unless noted):
  /echo...        JSON with method, path (with query), headers (list of pairs), body
  /bytes?n=N      N bytes of "x", streamed chunked in 64 KiB pieces
  /slow?ms=M      waits M ms before sending the response head
  /drip?ms=M      sends the head, then one byte, waits M ms, then the rest
  /hangup         closes the connection without answering
  /status?code=C  empty response with status C
  /count          reads the request body in pieces and answers its length (no buffering)

`python -m tests.support.backend --tls CERT KEY` serves HTTPS instead.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # head and body in one segment (no Nagle/delayed-ACK stalls)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Client-Port", str(self.client_address[1]))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _count(self) -> int:
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                while size:
                    got = len(self.rfile.read(min(size, 1 << 16)))
                    total, size = total + got, size - got
                self.rfile.readline()
            self.rfile.readline()
            return total
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            got = len(self.rfile.read(min(remaining, 1 << 16)))
            total, remaining = total + got, remaining - got
        return total

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = url.path.rsplit("/", 1)[-1] if "/" in url.path else url.path
        if route == "count":
            self._send(200, str(self._count()).encode(), "text/plain")
            return
        body = self._body()
        if route == "bytes":
            n = int(query.get("n", "0"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            piece = b"x" * 65536
            while n > 0:
                chunk = piece[: min(n, len(piece))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                n -= len(chunk)
            self.wfile.write(b"0\r\n\r\n")
            return
        if route == "slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, b"slow\n", "text/plain")
            return
        if route == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"a")
            self.wfile.flush()
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self.wfile.write(b"b")
            return
        if route == "hangup":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if route == "status":
            self._send(int(query.get("code", "200")), b"", "text/plain")
            return
        payload = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        self._send(200, json.dumps(payload).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
