"""App hardening: a top level that exits, a broken live edit, and logging handlers per request."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import run_compute_emu

OK_APP = """
from compute_emu.sdk import Response
def main():
    Response.from_body("ok").send_to_client()
"""


def run_serve(project: Path) -> subprocess.CompletedProcess[str]:
    return run_compute_emu("serve", "-C", str(project), "--addr", "127.0.0.1:0")


@pytest.mark.parametrize(
    ("top_level", "says"),
    [
        ("import sys\nsys.exit(2)\n", "called sys.exit(2)"),
        ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
        ("raise BaseException('boom')\n", "raised BaseException('boom')"),
        ("import sys\nsys.exit()\n", "called sys.exit()"),
    ],
)
def test_a_top_level_that_exits_is_a_one_line_startup_error(make_project, top_level, says):
    project = make_project(top_level + OK_APP)
    result = run_serve(project)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    entry = project / "src" / "main.py"
    line = top_level.count("\n")  # the statement that stops it is the last one
    assert lines[0].startswith(f"error: {entry}:{line}: "), lines[0]
    assert says in lines[0]
    assert "Listening" not in result.stdout


def edit(path: Path, text: str) -> None:
    """Rewrite a file with an mtime the reload check cannot miss, and let it look."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    time.sleep(0.3)


def test_a_broken_live_edit_answers_the_same_short_error_every_time(make_project, serve):
    project = make_project(OK_APP)
    served = serve(project)
    assert httpx.get(served.url).text == "ok"
    entry = project / "src" / "main.py"
    edit(entry, OK_APP + "\ndef broken(:\n    pass\n")
    bodies = []
    for _ in range(8):
        r = httpx.get(served.url)
        assert r.status_code == 500
        bodies.append(r.text)
    assert len(set(bodies)) == 1, [len(b) for b in bodies]
    line = (OK_APP + "\n").count("\n") + 1
    assert f"{entry}:{line}" in bodies[0] and "syntax error" in bodies[0], bodies[0]
    assert "compute_emu/" not in bodies[0] and "Traceback" not in bodies[0], bodies[0]
    edit(entry, OK_APP)
    assert httpx.get(served.url).text == "ok"


def test_a_live_edit_that_exits_at_the_top_level_is_a_500_and_the_server_goes_on(
    make_project, serve
):
    project = make_project(OK_APP)
    served = serve(project)
    entry = project / "src" / "main.py"
    edit(entry, "import sys\nsys.exit(3)\n" + OK_APP)
    for _ in range(2):
        r = httpx.get(served.url)
        assert r.status_code == 500 and f"{entry}:2:" in r.text and "sys.exit(3)" in r.text
    edit(entry, OK_APP)
    assert httpx.get(served.url).text == "ok"


LOGGING_APP = """
import logging
from compute_emu.sdk import EndpointHandler, Response

logger = logging.getLogger("hardening")
logger.setLevel(logging.INFO)
logger.addHandler(EndpointHandler("my_log"))

def main():
    logger.info("handled")
    Response.from_body("ok").send_to_client()
"""


def test_module_level_endpoint_handler_logs_once_per_call(make_project, serve):
    served = serve(make_project(LOGGING_APP))
    for _ in range(5):
        assert httpx.get(served.url).text == "ok"
    served.child.wait_for(r"^#4 \| my_log :: handled$")
    time.sleep(0.2)
    lines = [line for line in served.child.stdout_lines if "my_log :: handled" in line]
    assert [re.match(r"#(\d+)", line).group(1) for line in lines] == ["0", "1", "2", "3", "4"]


# -- the EndpointHandler rule, in process ------------------------------------------------
class LineHost:
    """Just enough of a host for log writes."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def log_write(self, endpoint: str, line: str) -> None:
        self.lines.append((endpoint, line))


@pytest.fixture
def host_and_logger(request):
    import logging

    from compute_emu.sdk._host import bind_host

    host = LineHost()
    logger = logging.getLogger(f"test_hardening.{request.node.name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    with bind_host(host):  # type: ignore[arg-type]
        yield host, logger
    logger.handlers = []


def endpoint_handlers(logger):
    from compute_emu.sdk import EndpointHandler

    return [h for h in logger.handlers if isinstance(h, EndpointHandler)]


def test_the_last_handler_added_for_an_endpoint_replaces_the_others(host_and_logger):
    import logging

    from compute_emu.sdk import EndpointHandler

    host, logger = host_and_logger
    first = EndpointHandler("a")
    logger.addHandler(first)
    logger.info("one")
    newer = [EndpointHandler("a") for _ in range(3)]
    newer[-1].setFormatter(logging.Formatter("new %(message)s"))
    for handler in newer:
        logger.addHandler(handler)
    logger.info("two")
    logger.info("three")
    assert host.lines == [("a", "one"), ("a", "new two"), ("a", "new three")]
    assert endpoint_handlers(logger) == [newer[-1]]  # the replaced ones left the logger


def test_other_endpoints_and_other_loggers_are_independent(host_and_logger):
    import logging

    from compute_emu.sdk import EndpointHandler

    host, logger = host_and_logger
    child = logging.getLogger(logger.name + ".child")
    logger.addHandler(EndpointHandler("a"))
    logger.addHandler(EndpointHandler("b"))
    child.addHandler(EndpointHandler("a"))
    child.info("x")
    assert sorted(host.lines) == [("a", "x"), ("a", "x"), ("b", "x")]
    child.handlers = []


def test_a_replaced_handler_still_in_a_list_being_walked_stays_quiet(host_and_logger):
    """Another thread may iterate the old handler list: the replaced one must not write."""
    from compute_emu.sdk import EndpointHandler

    host, logger = host_and_logger
    old, new = EndpointHandler("a"), EndpointHandler("a")
    logger.addHandler(old)
    logger.addHandler(new)
    snapshot = list(logger.handlers)
    logger.info("first")  # drops `old` from the logger
    record = logger.makeRecord(logger.name, 20, __file__, 1, "second", (), None)
    for handler in snapshot:  # what callHandlers in another thread is still doing
        handler.handle(record)
    assert host.lines == [("a", "first"), ("a", "second")]
    logger.addHandler(old)  # added again, and last: it is the live one now
    logger.info("third")
    assert host.lines[-1] == ("a", "third") and endpoint_handlers(logger) == [old]
