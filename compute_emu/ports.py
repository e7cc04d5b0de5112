"""Who holds a TCP port: for error messages that name the process (Linux /proc only)."""

from __future__ import annotations

import os
from pathlib import Path


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def port_owner(port: int) -> str | None:
    """``"pushpin (pid 1234)"`` for the process listening on ``port``, if it can be found."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                    return f"{name} (pid {pid})"
            except OSError:
                continue
    return None


def port_in_use_message(what: str, host: str, port: int) -> str:
    """One line saying the port is taken, and by whom where that can be found."""
    owner = port_owner(port)
    by = f" by {owner}" if owner else ""
    return f"{what} port {port} on {host} is already in use{by}; stop it or choose another port"
