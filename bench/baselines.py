"""The baselines written for speed: nginx relaying to Pushpin, and uvicorn serving a hello.

- **nginx relay**: nginx (``proxy_buffering off``, HTTP/1.1 to the upstream, WebSocket
  Upgrade passed on, hour-long read timeouts) in front of the same Pushpin compute-emu hands
  off to, adding ``Pushpin-Route: origin`` as compute-emu's handoff does. The handoff and
  fan-out rows compare compute-emu with it: what a relay in front of Pushpin can cost.
- **uvicorn**: ``uvicorn bench.asgi_hello:app`` with httptools and uvloop and its default
  access log, as a user runs it, for the hello rows.

Both are children of the bench (pinned to the server CPU), listen on 127.0.0.1 only, keep
everything they write under the bench's temp dir and are stopped by PID.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from .procs import Proc, free_port
from .servers import find_nginx, nginx_version, start_nginx

NGINX_PACKAGE = "nginx-light"
INSTALL_NGINX = f"apt-get install {NGINX_PACKAGE}"
INSTALL_UVICORN = ".venv/bin/pip install -e '.[bench]'"


def relay_conf(home: Path, port: int, pushpin_port: int, route: str) -> str:
    """nginx as a streaming relay to Pushpin's proxy port: one process, files under ``home``."""
    temp = "\n".join(
        f"    {kind}_temp_path {home}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return textwrap.dedent(
        f"""\
        daemon off;
        master_process off;
        worker_processes 1;
        worker_rlimit_nofile 65536;
        pid {home}/nginx.pid;
        error_log {home}/error.log warn;
        events {{ worker_connections 32768; }}
        http {{
            access_log off;
        {temp}
            upstream pushpin {{
                server 127.0.0.1:{pushpin_port};
                keepalive 64;
            }}
            map $http_upgrade $connection_upgrade {{
                default upgrade;
                "" "";
            }}
            server {{
                listen 127.0.0.1:{port};
                keepalive_requests 10000000;
                keepalive_timeout 300s;
                location / {{
                    proxy_pass http://pushpin;
                    proxy_http_version 1.1;
                    proxy_set_header Host $http_host;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection $connection_upgrade;
                    proxy_set_header Pushpin-Route {route};
                    proxy_buffering off;
                    proxy_request_buffering off;
                    proxy_read_timeout 3600s;
                    proxy_send_timeout 3600s;
                    tcp_nodelay on;
                }}
            }}
        }}
        """
    )


def start_relay(tmp: Path, pushpin_port: int, route: str = "origin") -> tuple[Proc, int, str]:
    """nginx relaying to Pushpin's proxy port; (process, port, "nginx 1.22.1 relay")."""
    nginx = find_nginx()
    if nginx is None:
        raise RuntimeError(f"the relay baseline needs nginx: {INSTALL_NGINX}")
    home = tmp / "nginx-relay"
    home.mkdir(exist_ok=True)
    proc, port = start_nginx(nginx, home, lambda port: relay_conf(home, port, pushpin_port, route))
    return proc, port, f"nginx {nginx_version(nginx)} relay"


def uvicorn_missing() -> str | None:
    """Why uvicorn cannot run with httptools and uvloop here (None when it can)."""
    for module in ("uvicorn", "httptools", "uvloop"):
        try:
            __import__(module)
        except ImportError:
            return f"the hello baseline needs {module}: {INSTALL_UVICORN}"
    return None


def start_uvicorn() -> tuple[Proc, int, str]:
    """``uvicorn bench.asgi_hello:app`` (httptools, uvloop, access log on); (proc, port, name)."""
    if why := uvicorn_missing():
        raise RuntimeError(why)
    import uvicorn

    for _ in range(5):
        port = free_port()
        argv = [sys.executable, "-m", "uvicorn", "bench.asgi_hello:app"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--http", "httptools"]
        argv += ["--loop", "uvloop"]
        proc = Proc(argv)
        try:
            proc.wait_for(r"Uvicorn running on", timeout=30)
            return proc, port, f"uvicorn {uvicorn.__version__}"
        except RuntimeError:
            proc.stop()
            if "address already in use" not in proc.output.lower():
                raise
    raise RuntimeError(f"uvicorn did not start:\n{proc.output}")
