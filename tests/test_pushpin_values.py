"""fastly.toml values that reach Pushpin, end to end: refused at load, or reaching the real
Pushpin exactly as written; and a normal start prints no error line."""

from __future__ import annotations

import json
import re

import httpx

from tests.fanout_support import FORWARD_APP, require_pushpin, start_fanout
from tests.support.processes import python_module

# a quoted route id and signing values with every character Pushpin reads as written
NAME = 'my "origin", #1'
SIG_ISS = "my issuer #1=x"
SIG_KEY = "k@y: with spaces/=!$%&'()*+<>?[]^`|~"


def serve_error_lines(spawn, project) -> list[str]:  # type: ignore[no-untyped-def]
    """Run `compute-emu serve` that is expected to refuse to start: its stderr lines."""
    child = spawn(
        python_module("compute_emu", "serve", "-C", str(project), "--addr", "127.0.0.1:0")
    )
    status = child.proc.wait(30)
    child.stop()  # collects the rest of its output
    assert status != 0
    assert not any("Listening" in line for line in child.stdout_lines)
    return [line for line in child.stderr_lines if line.strip()]


def test_a_manifest_that_would_rewrite_pushpin_conf_stops_serve_with_one_line(make_project, spawn):
    project = make_project(
        FORWARD_APP,
        backends={"origin": "http://127.0.0.1:9/"},
        extra="[local_server.pushpin]\nenable = true\n"
        'sig_iss = "viceroy\\n[runner]\\nhttp_port=0.0.0.0:27691"',
    )
    lines = serve_error_lines(spawn, project)
    assert len(lines) == 1, lines
    assert re.fullmatch(
        rf"error: {re.escape(str(project / 'fastly.toml'))}:\d+:1: local_server\.pushpin\.sig_iss: "
        r"has the character '\\n' \(U\+000A\).*",
        lines[0],
    ), lines[0]


def test_a_backend_name_that_would_add_a_route_stops_serve_with_one_line(make_project, spawn):
    project = make_project(FORWARD_APP, extra="[local_server.pushpin]\nenable = true")
    with (project / "fastly.toml").open("a") as f:
        f.write('[local_server.backends."b\\nid=evil 127.0.0.1:22"]\nurl = "http://127.0.0.1:9/"\n')
    lines = serve_error_lines(spawn, project)
    assert len(lines) == 1, lines
    assert 'local_server.backends."b\\nid=evil 127.0.0.1:22": invalid backend name' in lines[0]


def test_quoted_names_and_signing_values_reach_pushpin_as_written(make_project, serve, spawn):
    """Pushpin routes a handoff to a backend whose name needs quoting, and signs with the
    issuer and key exactly as fastly.toml has them."""
    require_pushpin()
    child = spawn(python_module("tests.support.grip_origin", SIG_KEY, SIG_ISS))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    project = make_project(FORWARD_APP, extra="[local_server.pushpin]\nenable = true")
    with (project / "fastly.toml").open("a") as f:
        f.write(f"sig_iss = {json.dumps(SIG_ISS)}\nsig_key = {json.dumps(SIG_KEY)}\n")
        f.write(f"[local_server.backends.{json.dumps(NAME)}]\n")
        f.write(f'url = "http://127.0.0.1:{port}/base"\n')
    fanout = start_fanout(serve, project)
    info = httpx.get(f"{fanout.url}/info", headers={"x-backend": NAME}, timeout=10).json()
    assert info["path"] == "/base/info"
    assert info["grip_sig"] == "valid"


def test_three_normal_starts_print_no_error_line(make_project, serve, start_backend):
    """condure's "stream zmq send to: Host unreachable" (Pushpin's links still connecting)
    is shown with -v only."""
    backend = start_backend()
    project = make_project(
        FORWARD_APP,
        backends={"origin": backend.url + "/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    for _ in range(3):
        fanout = start_fanout(serve, project)  # with -v
        assert httpx.get(f"{fanout.url}/echo", timeout=10).status_code == 200
        fanout.served.stop()
        errors = [line for line in fanout.served.child.stderr_lines if "error" in line.lower()]
        assert errors == []
