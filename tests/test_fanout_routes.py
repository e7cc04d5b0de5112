"""A backend added to fastly.toml while serving: usable by handoffs as soon as compute-emu
says the backends changed (it waits until Pushpin routes by the new routes file)."""

from __future__ import annotations

import httpx

from compute_emu.pushpin.config import (
    PushpinSettings,
    PushpinVersion,
    pushpin_conf,
    routes_file,
    routes_probe_route,
)
from tests.fanout_support import FORWARD_APP, start_fanout
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)


def test_a_backend_added_while_serving_takes_handoffs_at_once(make_project, serve, origin):
    project = make_project(
        FORWARD_APP,
        backends={"origin": f"http://127.0.0.1:{origin}/"},
        extra="[local_server.pushpin]\nenable = true",
    )
    fanout = start_fanout(serve, project)
    toml = project / "fastly.toml"
    names = ["origin"]
    for n in range(3):
        name = f"added{n}"
        names.append(name)
        with toml.open("a") as f:
            f.write(f'[local_server.backends.{name}]\nurl = "http://127.0.0.1:{origin}/{name}"\n')
        fanout.served.child.wait_for(
            rf"fastly.toml changed: backends are now {', '.join(names)}$", timeout=15
        )
        # at once, no retries: Pushpin has the route (not "No route for host")
        r = httpx.get(f"{fanout.url}/info", headers={"x-backend": name}, trust_env=False)
        assert r.status_code == 200, r.text
        assert r.json()["path"] == f"/{name}/info"
    fanout.served.child.wait_for(r"GET /info 200 .*\[fanout→added2\]")


def test_each_routes_file_has_a_probe_route_of_its_own_generation():
    first, second = routes_file({}, 7001), routes_file({}, 7001, generation=2)
    assert "id=compute-emu-probe-routes-0 test\n" in first
    assert "id=compute-emu-probe-routes-2 test\n" in second
    assert "compute-emu-probe-routes-0" not in second
    assert routes_probe_route(2) == "compute-emu-probe-routes-2"


def test_pushpins_publish_api_listens_on_the_private_port():
    settings = PushpinSettings(proxy_port=7000, publish_port=5561)
    conf = pushpin_conf(settings, PushpinVersion(1, 36), "/tmp/r", "/tmp/routes", api_port=40001)
    assert "push_in_http_addr=127.0.0.1\npush_in_http_port=40001\n" in conf
    assert "5561" not in conf
