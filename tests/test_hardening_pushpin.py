"""Pushpin hardening: two serves of one project side by side, and start-up failures as one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from compute_emu.pushpin.processes import project_state_files
from tests.conftest import Served
from tests.fanout_support import FORWARD_APP, free_port, start_fanout
from tests.support.processes import alive, descendants, python_module, run_compute_emu

FANOUT = "[local_server.pushpin]\nenable = true"


def instance_dir_of(served: Served) -> Path:
    """Pushpin's private directory, read from its runner's --config argument."""
    for pid in descendants(served.child.pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        for arg in args:
            if arg.startswith(b"--config=") and arg.endswith(b"pushpin.conf"):  # not zurl's
                return Path(arg.decode().removeprefix("--config=")).parent
    raise AssertionError("no Pushpin runner found")


def assert_serves_a_handoff(served: Served) -> None:
    info = httpx.get(f"{served.url}/info", timeout=10).json()
    assert info["grip_sig"] == "valid", info


def assert_stopped_leaving_nothing(served: Served, instance: Path) -> None:
    served.child.snapshot_descendants()
    assert served.stop() == 0, served.child.stderr
    assert not served.child.kill_leftovers(), "processes outlived compute-emu"
    assert not instance.exists(), f"{instance} was left behind"
    assert "Traceback" not in served.child.stderr, served.child.stderr


def test_two_serves_of_one_project_on_different_ports_run_side_by_side(make_project, serve, origin):
    project = make_project(
        FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"}, extra=FANOUT
    )
    first = start_fanout(serve, project)
    first_dir = instance_dir_of(first.served)
    second = start_fanout(serve, project)
    second_dir = instance_dir_of(second.served)
    assert first_dir != second_dir
    assert "stopped Pushpin processes" not in second.served.child.stderr
    assert len(project_state_files(project)) == 2
    time.sleep(0.5)  # the first one's supervisor would notice a killed Pushpin by now
    assert first.served.child.proc.poll() is None, first.served.child.stderr
    assert first_dir.is_dir()
    assert_serves_a_handoff(first.served)
    assert_serves_a_handoff(second.served)
    assert "Pushpin exited unexpectedly" not in first.served.child.stderr
    assert_stopped_leaving_nothing(first.served, first_dir)
    assert_serves_a_handoff(second.served)  # stopping one leaves the other's state alone
    assert len(project_state_files(project)) == 1
    assert_stopped_leaving_nothing(second.served, second_dir)
    assert project_state_files(project) == []


def test_a_second_serve_on_the_same_ports_is_refused_and_the_first_keeps_serving(
    make_project, serve, spawn, origin
):
    project = make_project(
        FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"}, extra=FANOUT
    )
    first = start_fanout(serve, project)
    first_dir = instance_dir_of(first.served)
    second = spawn(  # by the fixture, so that a second that does start is stopped again
        python_module(
            "compute_emu",
            "serve",
            "-C",
            str(project),
            "--addr",
            "127.0.0.1:0",
            "--pushpin-proxy-port",
            str(first.proxy_port),
            "--pushpin-publish-port",
            str(first.publish_port),
        )
    )
    second.wait_for(r"^error: ", stream="stderr", timeout=30)
    assert second.proc.wait(10) == 1, second.stderr
    assert "Traceback" not in second.stderr
    assert f"Pushpin proxy port {first.proxy_port} on 127.0.0.1 is already in use" in (
        second.stderr
    )
    assert f"another compute-emu serve of this project runs, pid {first.served.child.pid}" in (
        second.stderr
    )
    assert "stopped Pushpin processes" not in second.stderr
    time.sleep(0.5)
    assert first.served.child.proc.poll() is None, first.served.child.stderr
    assert_serves_a_handoff(first.served)
    assert "Pushpin exited unexpectedly" not in first.served.child.stderr
    assert_stopped_leaving_nothing(first.served, first_dir)


def test_vanished_instance_directory_is_one_clean_error(make_project, serve, origin):
    """Something else removes Pushpin's directory and kills its runner: no traceback, exit 1,
    and the runner's children (whose pid files went with the directory) are stopped too."""
    project = make_project(
        FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"}, extra=FANOUT
    )
    fanout = start_fanout(serve, project)
    instance = instance_dir_of(fanout.served)
    fanout.served.child.snapshot_descendants()
    runner = next(
        pid
        for pid in descendants(fanout.served.child.pid)
        if "pushpin --config" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    )
    subprocess.run(["rm", "-rf", str(instance)], check=True)
    os.kill(runner, signal.SIGKILL)
    fanout.served.child.wait_for(r"^error: ", stream="stderr", timeout=20)
    assert fanout.served.child.proc.wait(20) == 1
    stderr = fanout.served.child.stderr
    assert "Traceback" not in stderr and "ExceptionGroup" not in stderr, stderr
    assert str(instance) in stderr
    assert not fanout.served.child.kill_leftovers()
    assert project_state_files(project) == []


# -- Pushpin failing at start -------------------------------------------------------------
NOT_PUSHPIN = """#!{python}
import os, sys, time
if "--version" in sys.argv:
    print("pushpin 1.36.0")
    sys.exit(0)
with open({pidfile!r}, "a") as f:
    f.write(f"{{os.getpid()}}\\n")
{behaviour}
"""


def fake_pushpin(tmp_path: Path, behaviour: str) -> tuple[Path, Path]:
    pidfile = tmp_path / "fake.pids"
    script = tmp_path / "fake-pushpin"
    script.write_text(
        NOT_PUSHPIN.format(python=sys.executable, pidfile=str(pidfile), behaviour=behaviour)
    )
    script.chmod(0o755)
    return script, pidfile


def assert_one_line_start_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr
    assert "Listening" not in result.stdout


def run_with(project: Path, pushpin: str, proxy: int, publish: int, timeout: float = 60):
    return run_compute_emu(
        "serve",
        "-C",
        str(project),
        "--addr",
        "127.0.0.1:0",
        "--pushpin-path",
        pushpin,
        "--pushpin-proxy-port",
        str(proxy),
        "--pushpin-publish-port",
        str(publish),
        timeout=timeout,
    )


def test_a_pushpin_path_that_is_not_pushpin_is_one_line(make_project, tmp_path):
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    for binary, says in (("/bin/false", "'false (GNU coreutils)"), ("/bin/true", "'true (GNU")):
        result = run_with(project, binary, free_port(), free_port())
        assert_one_line_start_error(result, f"/bin/{binary[5:]} is not Pushpin: ")
        assert f"--version` printed {says}" in result.stderr
    script, pidfile = fake_pushpin(tmp_path, "print('boom: no config'); sys.exit(3)")
    result = run_with(project, str(script), free_port(), free_port())
    assert_one_line_start_error(result, "exited while starting")
    assert "boom: no config" in result.stderr  # its last lines are shown, indented
    assert pidfile.read_text().strip()
    assert project_state_files(project) == []


NEVER_READY = f"""
import subprocess
child = subprocess.Popen([{sys.executable!r}, "-c", "import time; time.sleep(600)"])
with open(sys.argv[0] + ".child", "w") as f:  # a wrapper script's child: stopped with it
    f.write(str(child.pid))
while True:
    time.sleep(1)
"""


def test_pushpin_not_ready_in_time_is_one_line_and_nothing_is_left(make_project, tmp_path):
    project = make_project(FORWARD_APP, backends={"origin": "http://127.0.0.1:9/"}, extra=FANOUT)
    script, pidfile = fake_pushpin(tmp_path, NEVER_READY)
    proxy, publish = free_port(), free_port()
    try:
        result = run_with(project, str(script), proxy, publish)
    finally:
        pids = [int(line) for line in pidfile.read_text().split()]
        pids.append(int((tmp_path / "fake-pushpin.child").read_text()))
        left = [pid for pid in pids if alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert_one_line_start_error(result, "was not ready within")
    assert len(pids) == 2 and not left, "the fake Pushpin or its child was left running"
    assert project_state_files(project) == []
    for port in (proxy, publish):
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
