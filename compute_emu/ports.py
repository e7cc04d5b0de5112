"""Who holds a TCP port: for error messages that name the process (through psutil, so on Linux
and macOS alike)."""

from __future__ import annotations

import contextlib
from typing import Any

import psutil


def _listens_on(connection: Any, port: int) -> bool:
    """``connection``: psutil's system-wide or per-process connection tuple."""
    return bool(
        connection.status == psutil.CONN_LISTEN
        and connection.laddr
        and connection.laddr.port == port
    )


def _describe(pid: int) -> str:
    try:
        return f"{psutil.Process(pid).name()} (pid {pid})"
    except psutil.Error:
        return f"pid {pid}"


def listening_pid(port: int) -> int | None:
    """The PID listening on ``port``: from the system-wide table where it is readable (Linux),
    else process by process (macOS lets a user read only their own processes' sockets)."""
    with contextlib.suppress(psutil.Error):
        for connection in psutil.net_connections(kind="tcp"):
            if _listens_on(connection, port) and connection.pid:
                return int(connection.pid)
    for process in psutil.process_iter():
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(_listens_on(connection, port) for connection in connections):
            return int(process.pid)
    return None


def port_owner(port: int) -> str | None:
    """``"pushpin (pid 1234)"`` for the process listening on ``port``, if it can be found."""
    pid = listening_pid(port)
    return None if pid is None else _describe(pid)


def port_in_use_message(what: str, host: str, port: int) -> str:
    """One line saying the port is taken, and by whom where that can be found."""
    owner = port_owner(port)
    by = f" by {owner}" if owner else ""
    return f"{what} port {port} on {host} is already in use{by}; stop it or choose another port"
