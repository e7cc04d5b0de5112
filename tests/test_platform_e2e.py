"""The issue's "done when", end to end through `compute-emu serve`: an app that reads a config
store, counts visits in a KV store (persisted across a restart with --kv-persist), reads a
secret from an environment variable, greets by the geolocated city of --client-ip, logs to an
endpoint, and streams an SSE countdown by itself — under a fastly.toml in Viceroy's format."""

from __future__ import annotations

import os

import httpx

from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

APP = """
import time
from compute_emu.sdk import (ConfigStore, Endpoint, KVStore, KVStoreError, Request,
                             Response, SecretStore, geo_lookup)

def main():
    req = Request.from_client()
    if req.get_path() == "/countdown":
        body = Response().with_content_type("text/event-stream").stream_to_client()
        for n in (3, 2, 1):
            body.write(f"data: {n}\\n\\n")
            time.sleep(0.2)
        body.finish()
        return
    greeting = ConfigStore.open("settings").get("greeting")
    visits = KVStore.open("counters")
    try:
        count = int(visits.lookup("visits").take_body().into_string()) + 1
    except KVStoreError.ItemNotFound:
        count = 1
    visits.insert("visits", str(count))
    secret = SecretStore.open("secrets").get("api_key").plaintext().decode()
    city = geo_lookup(req.get_client_ip_addr()).city()
    Endpoint.from_name("visits_log").write(f"visit {count} from {city}")
    Response.from_body(f"{greeting}, {city}! visit {count}, key {secret[:3]}...").send_to_client()
"""

TOML = """
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "Hello"

[local_server]
kv_stores.counters = []
secret_stores.secrets = [{ key = "api_key", env = "MY_API_KEY" }]

[local_server.geolocation]
use_default_loopback = false
format = "inline-toml"
[local_server.geolocation.addresses."203.0.113.7"]
city = "Lisbon"
country_code = "PT"
"""


def test_done_when_scenario(make_project, serve, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_API_KEY", "sk-secret-value")
    project = make_project(APP)
    (project / "fastly.toml").write_text((project / "fastly.toml").read_text() + TOML)
    persist = tmp_path / "kv"
    flags = ("--client-ip", "203.0.113.7", "--kv-persist", str(persist))

    first = serve(project, *flags)
    assert httpx.get(first.url).text == "Hello, Lisbon! visit 1, key sk-..."
    assert httpx.get(first.url).text == "Hello, Lisbon! visit 2, key sk-..."
    first.child.wait_for(r"#1 \| visits_log :: visit 2 from Lisbon")
    with httpx.stream("GET", f"{first.url}/countdown") as r:
        events = [line for line in r.iter_lines() if line]
    assert events == ["data: 3", "data: 2", "data: 1"]
    assert first.stop() == 0
    assert "sk-secret-value" not in first.child.stdout + first.child.stderr

    second = serve(project, *flags)  # a restart: the count goes on
    assert httpx.get(second.url).text == "Hello, Lisbon! visit 3, key sk-..."
    assert os.listdir(persist / "counters")


def test_without_the_flag_kv_writes_live_in_memory(make_project, serve, monkeypatch):
    monkeypatch.setenv("MY_API_KEY", "x")
    project = make_project(APP)
    (project / "fastly.toml").write_text((project / "fastly.toml").read_text() + TOML)
    first = serve(project, "--client-ip", "203.0.113.7")
    assert httpx.get(first.url).text.endswith("visit 1, key x...")
    first.stop()
    second = serve(project, "--client-ip", "203.0.113.7")
    assert httpx.get(second.url).text.endswith("visit 1, key x...")


def test_a_malformed_store_is_a_one_line_startup_error(make_project):
    from tests.support.processes import run_compute_emu

    project = make_project(APP)
    (project / "fastly.toml").write_text(
        (project / "fastly.toml").read_text()
        + '[local_server.config_stores.settings]\nformat = "yaml"\n'
    )
    result = run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[0]
    assert "fastly.toml" in line and "local_server.config_stores.settings.format" in line
