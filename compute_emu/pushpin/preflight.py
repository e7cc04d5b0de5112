"""Before Pushpin starts: its binary and version, its ports (free, or held by the Pushpin of a
compute-emu that is gone), and a private directory for its files."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError
from ..log import RequestLog
from ..ports import port_in_use_message
from .config import PushpinSettings, PushpinVersion, check_rundir, parse_version
from .processes import port_holder, reap_port_holder

INSTALL_HELP = (
    "install it (Debian/Ubuntu: sudo apt-get install pushpin; macOS: brew install pushpin; "
    "others: https://pushpin.org/docs/install/) or point --pushpin-path / "
    "[local_server.pushpin] pushpin_path at the binary"
)


def find_binary(path: str | None) -> str:
    """The Pushpin executable to run, or a UserError saying how to get one."""
    name = path or "pushpin"
    found = shutil.which(name)
    if found is None:
        where = f"{path} does not exist or is not executable" if path else "not found on PATH"
        raise UserError(f"Pushpin is needed for Fanout but {where}: {INSTALL_HELP}")
    return found


def read_version(binary: str) -> PushpinVersion:
    """Run ``pushpin --version``."""
    try:
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {binary} --version: {exc}") from None
    return parse_version(result.stdout + result.stderr, binary)


def port_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_port_free(what: str, port: int) -> None:
    """Fail with a message naming the port (and its owner) if it is taken on 127.0.0.1."""
    if not port_free(port):
        raise UserError(port_in_use_message(what, "127.0.0.1", port))


# Pushpin's private publish API port is picked below the ephemeral ranges (Linux 32768-60999,
# macOS 49152-65535) and apart from compute_emu.testing's (20000-32000): a port from bind(0)
# could be handed to any outgoing connection on the machine before Pushpin binds it, and
# Pushpin's handler does not report a failed bind (its API then never answers).
PRIVATE_PORTS = range(10000, 20000)


def free_port() -> int:
    """A port free on 127.0.0.1 right now, from ``PRIVATE_PORTS`` (for Pushpin's private
    publish API)."""
    for _ in range(200):
        port = random.choice(PRIVATE_PORTS)
        if port_free(port):
            return port
    raise UserError(
        f"no free port on 127.0.0.1 between {PRIVATE_PORTS.start} and {PRIVATE_PORTS.stop - 1} "
        "for Pushpin's private publish API"
    )


def check_ports(settings: PushpinSettings) -> None:
    """Fail naming the port if Pushpin's proxy or publish port is taken."""
    check_port_free("Pushpin proxy", settings.proxy_port)
    check_port_free("Pushpin publish", settings.publish_port)


def report_reaped(log: RequestLog, pids: list[int]) -> None:
    """Say that Pushpin processes of an earlier, dead run were stopped."""
    log.warning(
        f"stopped Pushpin processes left by an earlier run (its compute-emu is gone): pids {pids}"
    )


def free_ports_of_dead_runs(settings: PushpinSettings, log: RequestLog) -> bool:
    """Stop the Pushpin of a dead compute-emu (of any project) holding one of our ports, and
    say so. True if one was stopped."""
    freed = False
    for what, port in (("proxy", settings.proxy_port), ("publish", settings.publish_port)):
        if port_free(port):
            continue  # (finding who holds a port reads every process's sockets)
        if (reaped := reap_port_holder(port)) is not None:
            holder, pids = reaped
            log.warning(
                f"Pushpin {what} port {port} was held by {holder.name} (pid {holder.pid}), "
                f"{holder.owner_text()}, which is gone: stopped it (pids {pids})"
            )
            freed = True
    return freed


def held_by_live_pushpin(settings: PushpinSettings) -> str:
    """`` (condure is the Pushpin of compute-emu pid 2 (project /p), which still runs: ...)``
    if a live compute-emu's Pushpin holds one of our ports, else ``""``."""
    for port in (settings.proxy_port, settings.publish_port):
        holder = None if port_free(port) else port_holder(port)
        if holder is not None and holder.state.owner.is_alive():
            return (
                f" ({holder.name} is {holder.owner_text()}, which still runs: stop that one, or "
                "give this one other Pushpin ports with --pushpin-proxy-port and "
                "--pushpin-publish-port)"
            )
    return ""


def instance_dir(version: PushpinVersion) -> Path:
    """A private directory for one Pushpin instance, short enough for unix sockets."""
    for base in (tempfile.gettempdir(), "/tmp"):
        path = Path(tempfile.mkdtemp(prefix="ce-pp-", dir=base))
        try:
            check_rundir(str(path / "run"), version)
        except UserError:
            path.rmdir()
            if base == "/tmp":
                raise
            continue
        return path
    raise AssertionError("unreachable")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by this user only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
