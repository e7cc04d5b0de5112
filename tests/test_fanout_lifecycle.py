"""Pushpin as a child: start-up failures, a crash while serving, and orphans of a killed run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from compute_emu.pushpin.processes import project_state_files
from tests.fanout_support import FORWARD_APP, free_port, require_pushpin, start_fanout
from tests.support.processes import alive, descendants, python_module, run_compute_emu
from tests.test_hardening_pushpin import instance_dir_of

FANOUT = "[local_server.pushpin]\nenable = true"


def run_serve(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0", *args)


def test_pushpin_missing_says_how_to_install(make_project):
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    result = run_serve(project, "--pushpin-path", "/nonexistent/pushpin")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Pushpin is needed for Fanout" in result.stderr
    assert "apt-get install pushpin" in result.stderr and "brew install pushpin" in result.stderr


def test_taken_ports_are_named_and_nothing_is_left(make_project):
    require_pushpin()
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    for which in ("proxy", "publish"):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            other = free_port()
            ports = (port, other) if which == "proxy" else (other, port)
            result = run_serve(
                project,
                "--pushpin-proxy-port",
                str(ports[0]),
                "--pushpin-publish-port",
                str(ports[1]),
            )
        assert result.returncode == 1, result.stdout
        assert f"Pushpin {which} port {port} on 127.0.0.1 is already in use" in result.stderr
        assert f"pid {os.getpid()}" in result.stderr
        assert "Listening" not in result.stdout


def test_app_port_taken_stops_pushpin_again(make_project):
    require_pushpin()
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proxy = free_port()
        result = run_compute_emu(
            "serve",
            "-C",
            str(project),
            "--addr",
            f"127.0.0.1:{port}",
            "--pushpin-proxy-port",
            str(proxy),
            "--pushpin-publish-port",
            str(free_port()),
        )
    assert result.returncode == 1 and f"app port {port}" in result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", proxy)) != 0, "Pushpin is still listening"


def test_pushpin_killed_while_serving_is_restarted(make_project, serve, spawn):
    child = spawn(python_module("tests.support.grip_origin"))
    origin = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(
        FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"}, extra=FANOUT
    )
    fanout = start_fanout(serve, project)
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"
    runner = next(
        pid
        for pid in descendants(fanout.served.child.pid)
        if "pushpin --config" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    )
    fanout.served.child.snapshot_descendants()
    os.kill(runner, signal.SIGKILL)
    fanout.served.child.wait_for("Pushpin exited unexpectedly", stream="stderr")
    assert (
        httpx.post(f"{fanout.url}/info", content=b"x").json()["method"] == "POST"
    )  # still serving
    fanout.served.child.wait_for("pushpin restarted", timeout=20)
    fanout.served.child.snapshot_descendants()
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"


def test_orphans_of_a_killed_run_are_stopped_on_the_next_start(make_project, serve, spawn):
    child = spawn(python_module("tests.support.grip_origin"))
    origin = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(
        FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"}, extra=FANOUT
    )
    first = start_fanout(serve, project)
    orphans = descendants(first.served.child.pid)
    assert len(orphans) >= 4
    first_dir = instance_dir_of(first.served)
    # the watchdog would stop Pushpin at once (tests/test_pushpin_lifetime.py): kill it too
    for pid in orphans:
        if "compute_emu.pushpin.watchdog" in Path(f"/proc/{pid}/cmdline").read_text():
            os.kill(pid, signal.SIGKILL)
    first.served.child.stop(signal.SIGKILL)
    time.sleep(0.3)
    assert any(alive(pid) for pid in orphans), "expected Pushpin to outlive a SIGKILLed parent"
    second = serve(
        project,
        "--pushpin-proxy-port",
        str(first.proxy_port),
        "--pushpin-publish-port",
        str(first.publish_port),
    )
    second.child.snapshot_descendants()
    second.child.wait_for("stopped Pushpin processes left by an earlier run", stream="stderr")
    assert not [pid for pid in orphans if alive(pid)]
    assert not first_dir.exists()
    assert len(project_state_files(project)) == 1  # the second one's own
    assert httpx.get(f"{second.url}/info").json()["grip_sig"] == "valid"


def test_the_flag_enables_fanout_without_the_manifest_saying_so(make_project, serve, spawn):
    child = spawn(python_module("tests.support.grip_origin"))
    origin = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"})
    fanout = start_fanout(serve, project, "--experimental-enable-pushpin")
    assert httpx.get(f"{fanout.url}/info").json()["grip_sig"] == "valid"
