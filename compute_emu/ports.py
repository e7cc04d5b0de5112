"""Who holds a TCP port (through psutil, so on Linux and macOS alike), and the one line that
says which of serve's ports are taken, by whom, and which flags to run with instead."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

OFFSET_STEP = 10  # suggested ports: the taken ones plus 10, 20, ... (7676 -> 7686)
OFFSET_TRIES = 50


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


@dataclass(frozen=True)
class PortUse:
    """A port serve needs: what it is for (``app``, ``Pushpin proxy``...), where, and the
    command-line flag that chooses it (``--addr`` takes ``HOST:PORT``, the others a port)."""

    what: str
    host: str
    port: int
    flag: str

    def flag_with(self, port: int) -> str:
        """``--addr 127.0.0.1:7686``, ``--pushpin-proxy-port 7687``."""
        if self.flag == "--addr":
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"--addr {host}:{port}"
        return f"{self.flag} {port}"


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host`` (every address it resolves to) right now."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return True  # not ours to judge: the bind itself will say what is wrong
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                return False
    return True


def taken_ports(uses: Sequence[PortUse]) -> list[PortUse]:
    """The uses whose port is taken (port 0, "any free one", never is)."""
    return [use for use in uses if use.port and not port_free(use.host, use.port)]


def other_ports(uses: Sequence[PortUse], taken: Sequence[PortUse]) -> dict[PortUse, int] | None:
    """Free ports for the taken uses: each moved by one offset (10, 20, ...), none landing on
    another port serve uses; None if no offset tried frees them all."""
    wanted = {use.port for use in uses}
    for step in range(1, OFFSET_TRIES + 1):
        moved = {use: use.port + step * OFFSET_STEP for use in taken}
        if all(
            port <= 65535 and port not in wanted and port_free(use.host, port)
            for use, port in moved.items()
        ):
            return moved
    return None


def conflict_message(
    uses: Sequence[PortUse], taken: Sequence[PortUse], reason: str | None = None
) -> str:
    """One line: which ports are taken and by whom (or ``reason``, a message already saying
    so), and the flags to run with instead, with ports free now."""
    them = "it" if len(taken) == 1 else "them"
    advice = "or"
    if reason is None:
        first, *rest = taken
        reason = port_in_use_message(first.what, first.host, first.port).split(";")[0]
        for use in rest:
            owner = port_owner(use.port)
            reason += f", {use.what} port {use.port}" + (f" by {owner}" if owner else "")
        advice = f"stop {them}, or"
    moved = other_ports(uses, taken)
    if moved is None:
        flags = " and ".join(use.flag for use in taken)
        return f"{reason}; {advice} choose other ports with {flags}"
    command = " ".join(use.flag_with(port) for use, port in moved.items())
    return f"{reason}; {advice} run with {command} (free now)"
