"""Handlers an app's top level adds to ``logging`` do not pile up, though the top level runs
for every request (a fresh instance, as on Compute): a compute_emu.sdk app with a plain
``logging.StreamHandler`` logs each record once (official-SDK apps: test_official_platform)."""

from __future__ import annotations

import httpx

APP = """
import logging
import sys

from compute_emu.sdk import Request, Response

log = logging.getLogger("app")
log.setLevel(logging.INFO)
log.addHandler(logging.StreamHandler(sys.stdout))


def main():
    req = Request.from_client()
    log.info("handled %s", req.get_path())
    Response.from_body("ok").send_to_client()
"""


def test_a_top_level_handler_writes_each_record_once(make_project, serve):
    served = serve(make_project(APP))
    for n in range(4):
        assert httpx.get(f"{served.url}/r{n}").text == "ok"
    served.child.wait_for(r"handled /r3")
    for n in range(4):
        assert served.child.stdout.count(f"handled /r{n}") == 1, served.child.stdout
