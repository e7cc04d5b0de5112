"""Taken ports: serve checks all of its ports (app, Pushpin proxy, publish) before starting,
and says in one line which are taken, by whom, and the flags to run with instead (with ports
free now); run with those flags, it starts."""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from compute_emu.ports import PortUse, conflict_message, other_ports, port_free, taken_ports
from tests.fanout_support import FORWARD_APP, require_pushpin
from tests.support.ports import free_port
from tests.support.processes import python_module, run_compute_emu

FANOUT = "[local_server.pushpin]\nenable = true"
OK_APP = """
from compute_emu.sdk import Request, Response

def main():
    Request.from_client()
    Response.from_body("ok").send_to_client()
"""


@contextlib.contextmanager
def listening(*ports: int) -> Iterator[list[socket.socket]]:
    """Listen on these ports of 127.0.0.1 (as another program would) until the block ends.

    With SO_REUSEADDR, as servers bind and as ``port_free`` probes: without it, a port that
    an earlier test's connections left in TIME_WAIT cannot be bound, though it is free."""
    with contextlib.ExitStack() as stack:
        sockets = []
        for port in ports:
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()
            sockets.append(sock)
        yield sockets


def spaced_ports(count: int) -> list[int]:
    """Free ports whose +10 and +20 neighbours are free too (so suggestions are predictable)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        near = [port + n for n in (0, 10, 20)]
        if all(port_free("127.0.0.1", p) for p in near) and not set(near) & set(ports):
            ports.append(port)
    return ports


def port_flags(app: int, proxy: int, publish: int) -> list[str]:
    return [
        "--addr",
        f"127.0.0.1:{app}",
        "--pushpin-proxy-port",
        str(proxy),
        "--pushpin-publish-port",
        str(publish),
    ]


def uses(app: int, proxy: int, publish: int) -> list[PortUse]:
    return [
        PortUse("app", "127.0.0.1", app, "--addr"),
        PortUse("Pushpin proxy", "127.0.0.1", proxy, "--pushpin-proxy-port"),
        PortUse("Pushpin publish", "127.0.0.1", publish, "--pushpin-publish-port"),
    ]


def test_flags_name_the_port_as_each_flag_takes_it():
    assert PortUse("app", "127.0.0.1", 7676, "--addr").flag_with(7686) == "--addr 127.0.0.1:7686"
    assert PortUse("app", "::1", 7676, "--addr").flag_with(7686) == "--addr [::1]:7686"
    proxy = PortUse("Pushpin proxy", "127.0.0.1", 7677, "--pushpin-proxy-port")
    assert proxy.flag_with(7687) == "--pushpin-proxy-port 7687"


def test_every_taken_port_is_named_with_the_flag_and_a_free_port():
    app, proxy, publish = spaced_ports(3)
    wanted = uses(app, proxy, publish)
    with listening(app, proxy, publish):
        taken = taken_ports(wanted)
        assert taken == wanted
        message = conflict_message(wanted, taken)
    owner = f"(pid {os.getpid()})"
    assert message == (
        f"app port {app} on 127.0.0.1 is already in use by {_name()} {owner}, "
        f"Pushpin proxy port {proxy} by {_name()} {owner}, "
        f"Pushpin publish port {publish} by {_name()} {owner}; stop them, or run with "
        f"--addr 127.0.0.1:{app + 10} --pushpin-proxy-port {proxy + 10} "
        f"--pushpin-publish-port {publish + 10} (free now)"
    )


def test_only_the_taken_ports_move_and_past_taken_neighbours():
    app, proxy, publish = spaced_ports(3)
    wanted = uses(app, proxy, publish)
    with listening(proxy, proxy + 10):  # +10 taken as well: +20
        taken = taken_ports(wanted)
        assert [use.what for use in taken] == ["Pushpin proxy"]
        assert other_ports(wanted, taken) == {wanted[1]: proxy + 20}
        message = conflict_message(wanted, taken, "Pushpin proxy port is busy (because)")
    assert message == (
        f"Pushpin proxy port is busy (because); or run with --pushpin-proxy-port {proxy + 20} "
        "(free now)"
    )


def test_a_suggestion_never_lands_on_another_wanted_port():
    app, publish = spaced_ports(2)
    proxy = app + 10  # the app's +10 is the proxy's own port: the app goes to +20
    wanted = uses(app, proxy, publish)
    with listening(app):
        assert other_ports(wanted, taken_ports(wanted)) == {wanted[0]: app + 20}
    assert taken_ports(uses(0, proxy, publish)) == []  # port 0 is any free one: never taken


def _name() -> str:
    import psutil

    return psutil.Process().name()


def test_serve_names_every_taken_port_in_one_line_and_its_flags_work(make_project, spawn):
    require_pushpin()
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    app, proxy, publish = spaced_ports(3)
    with listening(app, proxy, publish):
        result = run_compute_emu("serve", "-C", str(project), *port_flags(app, proxy, publish))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for port in (app, proxy, publish):
        assert f"port {port}" in lines[0]
    suggested = re.search(r"run with (.*) \(free now\)", lines[0])
    assert suggested is not None
    assert suggested[1] == (
        f"--addr 127.0.0.1:{app + 10} --pushpin-proxy-port {proxy + 10} "
        f"--pushpin-publish-port {publish + 10}"
    )
    with listening(app, proxy, publish):  # still taken: the suggested flags start it
        child = spawn(
            python_module("compute_emu", "serve", "-C", str(project), *suggested[1].split())
        )
        child.wait_for(rf"Listening on http://127.0.0.1:{app + 10}", timeout=30)
        child.snapshot_descendants()
    assert child.stop() in (0, -15)


@pytest.mark.parametrize("fanout", [False, True])
def test_a_taken_app_port_alone_names_only_addr(make_project, fanout):
    if fanout:
        require_pushpin()
    extra = FANOUT if fanout else ""
    project = make_project(
        FORWARD_APP if fanout else OK_APP, extra=extra, backends={"origin": "http://127.0.0.1:9/"}
    )
    app, proxy, publish = spaced_ports(3)
    with listening(app):
        result = run_compute_emu("serve", "-C", str(project), *port_flags(app, proxy, publish))
    assert result.returncode == 1, result.stdout
    line = result.stderr.strip()
    assert line == (
        f"error: app port {app} on 127.0.0.1 is already in use by {_name()} (pid {os.getpid()}); "
        f"stop it, or run with --addr 127.0.0.1:{app + 10} (free now)"
    )


def test_pushpins_private_api_port_is_never_one_an_outgoing_connection_may_take(monkeypatch):
    """It used to come from bind(0): in the ephemeral range, where any outgoing connection on
    the machine could take it before Pushpin's handler bound it (which Pushpin does not
    report: readiness then timed out after 10 s)."""
    from compute_emu.pushpin import preflight

    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low, high = map(int, ephemeral.read_text().split()) if ephemeral.exists() else (49152, 65535)
    picks = {preflight.free_port() for _ in range(50)}
    assert all(p in preflight.PRIVATE_PORTS and not low <= p <= high for p in picks), picks
    with socket.socket() as held:  # a taken one is passed over
        taken = next(p for p in preflight.PRIVATE_PORTS if preflight.port_free(p))
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as in listening()
        held.bind(("127.0.0.1", taken))
        held.listen()
        other = next(p for p in reversed(preflight.PRIVATE_PORTS) if preflight.port_free(p))
        choices = iter([taken, other])
        monkeypatch.setattr(preflight.random, "choice", lambda _ports: next(choices))
        assert preflight.free_port() == other
