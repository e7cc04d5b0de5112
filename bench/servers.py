"""The servers of the bench: compute-emu (through its command line only), origins, baselines.

compute-emu is only ever started as ``python -m compute_emu serve -C DIR --addr 127.0.0.1:0
-q ...`` and read through its output and its ports, so the bench keeps working while its
internals change.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from .procs import ROOT, Proc, free_port

HELLO_APP = """
from compute_emu.sdk import Response
def main():
    Response.from_body("Hello, world!").send_to_client()
"""
SEND_APP = """
from compute_emu.sdk import Request
def main():
    Request.from_client().send("origin").send_to_client()
"""
FANOUT_APP = """
from compute_emu.sdk import Request
def main():
    Request.from_client().handoff_fanout("origin")
"""
BIG_PATH = "/big"
BIG_SIZE = 1 << 30
SMALL_PATH = "/hello.txt"
BENCH = ROOT / "bench"


def project(tmp: Path, name: str, app: str, origin_port: int | None, pushpin: bool) -> Path:
    """A project folder: fastly.toml (backend ``origin``, Pushpin on or off) and src/main.py."""
    path = tmp / name
    (path / "src").mkdir(parents=True)
    toml = f'manifest_version = 3\nname = "{name}"\n'
    if pushpin:
        toml += "[local_server.pushpin]\nenable = true\n"
    if origin_port is not None:
        toml += f'[local_server.backends.origin]\nurl = "http://127.0.0.1:{origin_port}/"\n'
    (path / "fastly.toml").write_text(toml)
    (path / "src" / "main.py").write_text(textwrap.dedent(app))
    return path


class ComputeEmu:
    """A running ``compute-emu serve``: its process, URL, and Pushpin's ports if enabled.

    ``quiet``: with ``-q`` (no line per request); else with the log a user sees by default.
    """

    def __init__(self, path: Path, pushpin: bool = False, quiet: bool = True) -> None:
        argv = [sys.executable, "-m", "compute_emu", "serve", "-C", str(path)]
        argv += ["--addr", "127.0.0.1:0", *(["-q"] if quiet else [])]
        self.proxy_port = self.publish_port = 0
        if pushpin:
            self.proxy_port, self.publish_port = free_port(), free_port()
            argv += ["--pushpin-proxy-port", str(self.proxy_port)]
            argv += ["--pushpin-publish-port", str(self.publish_port)]
        started = time.perf_counter()
        self.proc = Proc(argv)
        self.url = self.proc.wait_for(r"Listening on (http://\S+)", timeout=60).group(1)
        self.ready_seconds = time.perf_counter() - started
        self.port = int(self.url.rsplit(":", 1)[1])
        if pushpin:  # the publish API as compute-emu announces it
            announced = re.search(r"publish at http://127\.0\.0\.1:(\d+)/", self.proc.output)
            self.publish_port = int(announced.group(1)) if announced else self.publish_port

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        """RuntimeError with its last lines if compute-emu has exited."""
        if self.proc.proc.poll() is not None:
            last = "\n".join(self.proc.lines[-5:])
            raise RuntimeError(f"compute-emu exited ({self.proc.proc.returncode}): {last}")

    def stop(self) -> float:
        """Stop compute-emu (SIGTERM, as Ctrl-C would); the seconds it took."""
        started = time.perf_counter()
        self.proc.stop(timeout=30)
        return time.perf_counter() - started


def python_server(script: str) -> tuple[Proc, int]:
    """One of bench/'s small servers, pinned to the server CPU; (process, port)."""
    proc = Proc([sys.executable, str(BENCH / script)])
    return proc, int(proc.wait_for(r"^PORT (\d+)").group(1))


def nginx_conf(tmp: Path, port: int) -> str:
    """nginx in the foreground, one process, everything under ``tmp``."""
    return textwrap.dedent(
        f"""\
        daemon off;
        master_process off;
        worker_processes 1;
        pid {tmp}/nginx.pid;
        error_log {tmp}/error.log warn;
        events {{ worker_connections 4096; }}
        http {{
            access_log off;
            default_type text/plain;
            sendfile on;
            keepalive_requests 10000000;
            keepalive_timeout 300s;
            client_body_temp_path {tmp}/client_body;
            proxy_temp_path {tmp}/proxy;
            fastcgi_temp_path {tmp}/fastcgi;
            uwsgi_temp_path {tmp}/uwsgi;
            scgi_temp_path {tmp}/scgi;
            server {{
                listen 127.0.0.1:{port};
                root {tmp}/www;
                location = {BIG_PATH} {{
                    default_type application/octet-stream;
                    try_files /big.bin =404;
                }}
            }}
        }}
        """
    )


def start_origin(tmp: Path) -> tuple[Proc, int, str]:
    """The origin of the send() rows: nginx if installed, else bench/fast_backend.py."""
    nginx = find_nginx()
    if nginx is None:
        proc, port = python_server("fast_backend.py")
        return proc, port, "bench/fast_backend.py (nginx not installed)"
    home = tmp / "nginx"
    (home / "www").mkdir(parents=True)
    (home / "www" / SMALL_PATH.lstrip("/")).write_bytes(b"Hello, world!")
    with open(home / "www" / "big.bin", "wb") as big:
        big.truncate(BIG_SIZE)  # sparse: no disk used
    proc, port = start_nginx(nginx, home, lambda port: nginx_conf(home, port))
    return proc, port, f"nginx {nginx_version(nginx)}"


def start_nginx(nginx: str, home: Path, conf: Callable[[int], str]) -> tuple[Proc, int]:
    """nginx with ``conf(port)`` as home/nginx.conf, on a free port; (process, port)."""
    for _ in range(5):
        port = free_port()
        (home / "nginx.conf").write_text(conf(port))
        proc = Proc([nginx, "-p", str(home), "-c", str(home / "nginx.conf")])
        if wait_port(port, proc, 10):
            return proc, port
        proc.stop()
    raise RuntimeError(f"nginx did not start:\n{proc.output}")


def find_nginx() -> str | None:
    """nginx's path, on PATH or in the sbin folders a non-root PATH lacks."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nginx_version(nginx: str) -> str:
    """``1.22.1`` from ``nginx -v``."""
    import subprocess

    out = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
    return (out.stderr or out.stdout).strip().rsplit("/", 1)[-1]


def wait_port(port: int, proc: Proc, timeout: float) -> bool:
    """True once 127.0.0.1:port accepts connections (False if ``proc`` exits first)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False
