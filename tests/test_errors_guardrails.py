"""Habits from elsewhere get a clear word: a main() that returns its Response, `def main(req)`,
`async def main()`, and `KVStore.open()` of a store that is not there."""

from __future__ import annotations

import httpx
import pytest

from tests.support.processes import run_compute_emu

APP = """\
from compute_emu.sdk import KVStore, Request, Response

def main():
    req = Request.from_client()
    if req.get_path() == "/kv":
        store = KVStore.open("typo")
        Response.from_body(f"store={store}").send_to_client()
        return
    return Response.from_body("returned, not sent")
"""


def test_a_returned_response_is_warned_about_once_naming_the_line(make_project, serve):
    served = serve(make_project(APP, extra="[local_server.kv_stores]\ncache = []\n"))
    for _ in range(2):
        r = httpx.get(served.url + "/x", timeout=10)
        assert (r.status_code, r.text) == (200, "")  # as on Compute: nothing was sent
    line = served.child.wait_for(r"returned a Response", stream="stderr").string
    assert "main.py:9: main() returned a Response" in line and "send_to_client()" in line
    httpx.get(served.url + "/x", timeout=10)
    served.child.wait_for(r"GET /x 200", timeout=5)
    assert served.child.stderr.count("returned a Response") == 1


def test_kv_store_open_of_an_unknown_store_says_which_ones_exist(make_project, serve):
    served = serve(make_project(APP, extra="[local_server.kv_stores]\ncache = []\n"))
    assert httpx.get(served.url + "/kv", timeout=10).text == "store=None"
    line = served.child.wait_for(r'KVStore.open\("typo"\)').string
    assert line.startswith("#0 | warning: ") and 'known KV stores: "cache"' in line


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def main(req):\n    pass\n", "main.py:1: main(req) takes arguments"),
        ("async def main():\n    pass\n", "main.py:1: main() is `async def`"),
    ],
)
def test_a_main_that_cannot_be_called_so_fails_at_start_up(make_project, source, expected):
    project = make_project(source)
    result = run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0")
    assert result.returncode == 1
    assert expected in result.stderr and "Traceback" not in result.stderr, result.stderr
