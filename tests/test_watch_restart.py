"""Turning Fanout on in fastly.toml while serving restarts compute-emu with Pushpin, on the
same listening socket (same PID, same port, nothing refused meanwhile)."""

from __future__ import annotations

import httpx

from tests.fanout_support import FORWARD_APP, require_pushpin
from tests.support.ports import free_port


def test_a_pushpin_change_restarts_on_the_same_socket(make_project, serve, origin):
    require_pushpin()
    project = make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{origin}/"})
    served = serve(project)
    child = served.child
    before = httpx.get(served.url + "/info", timeout=10)
    assert before.status_code == 500 and "Fanout is not enabled" in before.text
    manifest = project / "fastly.toml"
    pushpin = (
        f"[local_server.pushpin]\nenable = true\nproxy_port = {free_port()}\n"
        f"publish_port = {free_port()}\n"
    )
    manifest.write_text(manifest.read_text() + pushpin)
    child.wait_for(r"changed \[local_server.pushpin\]: restarting", timeout=15)
    # asked during the restart: waits in the socket's backlog, answered by the new process
    during = httpx.get(served.url + "/info", timeout=30)
    assert during.status_code == 200, during.text
    child.wait_for(r"fanout: Pushpin", timeout=15)
    assert child.wait_for(r"Listening on (http://\S+)").group(1) == served.url
    assert sum("Listening on" in line for line in child.stdout_lines) == 2
    assert child.proc.poll() is None  # the same process (exec), still serving
    child.snapshot_descendants()  # Pushpin's processes: stopped with it, checked by the fixture
