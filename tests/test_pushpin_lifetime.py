"""Nothing outlives compute-emu: however it ends (SIGKILL, a closed terminal's SIGHUP,
``os._exit()`` in an app), no Pushpin process is left 2 s later; a port held by the Pushpin of
a dead compute-emu is freed whatever project it served."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fanout_support import require_pushpin, start_fanout
from tests.support.ports import free_port
from tests.support.processes import alive, descendants
from tests.support.pty_child import PtyChild

FANOUT = "[local_server.pushpin]\nenable = true"
APP = """
import os
from compute_emu.sdk import Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/exit":
        os._exit(3)
    Response.from_body("up").send_to_client()
"""
GONE_WITHIN = 2.0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pushpin_and_watchdog(pid: int) -> tuple[set[int], set[int]]:
    """The PIDs of Pushpin's processes (runner and its four) under ``pid``, and of the
    watchdog."""
    found = descendants(pid)
    watchdog = {p for p in found if "compute_emu.pushpin.watchdog" in cmdline(p)}
    pushpin = found - watchdog
    assert len(pushpin) >= 5, [cmdline(p) for p in found]  # the runner and its four
    return pushpin, watchdog


def assert_all_gone(pids: set[int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"left after {GONE_WITHIN} s: {[(p, cmdline(p)) for p in left]}"


@pytest.mark.parametrize("how", ["SIGKILL", "os._exit in main()"])
def test_pushpin_does_not_outlive_compute_emu(make_project, serve, how):
    project = make_project(APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    fanout = start_fanout(serve, project)
    child = fanout.served.child
    pushpin, watchdog = pushpin_and_watchdog(child.pid)
    child.snapshot_descendants()
    if how == "SIGKILL":
        child.stop(signal.SIGKILL)
    else:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{fanout.url}/exit")
        assert child.proc.wait(10) == 3
    assert_all_gone(pushpin | watchdog)
    with pytest.raises(httpx.ConnectError):  # the port is free again
        httpx.get(f"http://127.0.0.1:{fanout.proxy_port}/")


def test_closing_the_terminal_stops_compute_emu_cleanly_and_pushpin_with_it(make_project):
    """SIGHUP from a closed terminal is a clean stop, like Ctrl-C (it used to kill compute-emu
    and leave Pushpin holding its port)."""
    require_pushpin()
    project = make_project(APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    proxy = free_port()
    # the session leader of a terminal of its own (its controlling terminal), as in a tab
    launcher = (
        "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    args = ["-m", "compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0"]
    ports = ["--pushpin-proxy-port", str(proxy), "--pushpin-publish-port", str(free_port())]
    terminal = PtyChild([sys.executable, "-c", launcher, *args, *ports])
    seen: set[int] = set()
    try:
        terminal.expect(b"Listening on http://", timeout=30)
        pushpin, watchdog = pushpin_and_watchdog(terminal.proc.pid)
        seen = pushpin | watchdog
        instance_dirs = {a for p in pushpin for a in cmdline(p).split() if "ce-pp-" in a}
        os.close(terminal.fd)  # the terminal goes away: its session leader gets SIGHUP
        assert terminal.proc.wait(10) == 0  # a clean stop, not death by signal
        assert_all_gone(pushpin | watchdog)
        assert instance_dirs and not any(Path(d.split("=")[-1]).exists() for d in instance_dirs)
    finally:
        terminal.stop()
        for pid in seen | descendants(terminal.proc.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_port_held_by_a_dead_compute_emus_pushpin_is_freed_whatever_its_project(
    make_project, serve
):
    """The Pushpin of a dead compute-emu (its watchdog killed too) holds the proxy port:
    another project's serve on that port says whose it was, stops it and serves."""
    first_project = make_project(
        APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT, name="first"
    )
    first = start_fanout(serve, first_project)
    pushpin, watchdog = pushpin_and_watchdog(first.served.child.pid)
    first_pid = first.served.child.pid
    assert len(watchdog) == 1
    for pid in watchdog:
        os.kill(pid, signal.SIGKILL)
    first.served.child.stop(signal.SIGKILL)
    time.sleep(0.3)
    assert any(alive(p) for p in pushpin), "expected orphans without the watchdog"

    other = make_project(APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT, name="b")
    second = start_fanout(serve, other, proxy=first.proxy_port)
    assert_all_gone(pushpin)
    second.served.child.wait_for(
        rf"Pushpin proxy port {first.proxy_port} was held by \S+ \(pid \d+\), the Pushpin of "
        rf"compute-emu pid {first_pid} \(project {first_project}\), which is gone: stopped it",
        stream="stderr",
    )
    assert httpx.get(second.url).text == "up"


def test_a_port_held_by_a_live_compute_emus_pushpin_names_it(make_project, serve):
    from tests.support.processes import run_compute_emu

    project = make_project(APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    first = start_fanout(serve, project)
    other = make_project(APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT, name="b")
    result = run_compute_emu(
        "serve",
        "-C",
        str(other),
        "--addr",
        "127.0.0.1:0",
        "--pushpin-proxy-port",
        str(first.proxy_port),
        "--pushpin-publish-port",
        str(free_port()),
    )
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[0]
    assert f"is the Pushpin of compute-emu pid {first.served.child.pid} (project {project})" in line
    assert "which still runs: stop that one, or give this one other Pushpin ports" in line
    assert httpx.get(first.url).text == "up"  # untouched
