"""While serving: a syntax error shows the moment the file is saved, a store edited in
fastly.toml is applied, and `fastly compute serve` flags that mean nothing here are taken."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support.processes import run_compute_emu

APP = """\
from compute_emu.sdk import ConfigStore, Request, Response

def main():
    Request.from_client()
    value = ConfigStore.open("settings").get("greeting")
    Response.from_body(f"greeting={value}").send_to_client()
"""

STORE = """
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "{value}"
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _until_logged(child, pattern: str, action, stream: str = "stdout"):  # type: ignore[no-untyped-def]
    """Do ``action`` (a save) until ``pattern`` shows: the watcher starts just after the
    server listens, and a save before that is not seen."""
    for _ in range(10):
        action()
        try:
            return child.wait_for(pattern, stream=stream, timeout=1)
        except AssertionError:
            continue
    return child.wait_for(pattern, stream=stream, timeout=1)


def test_a_syntax_error_is_reported_when_saved_and_its_fix_too(make_project, serve):
    project = make_project(APP, extra=STORE.format(value="hi"))
    served = serve(project)
    main = project / "src" / "main.py"
    broken = APP.replace("def main():", "def main(:")
    line = _until_logged(
        served.child, r"syntax error", lambda: _write(main, broken), stream="stderr"
    ).string
    assert f"{main}:3:" in line and "saved just now" in line  # no request was made
    _write(main, APP)
    served.child.wait_for(r"src/main.py fixed", timeout=10)
    assert httpx.get(served.url, timeout=10).text == "greeting=hi"


def test_a_store_edited_in_fastly_toml_is_applied(make_project, serve):
    project = make_project(APP, extra=STORE.format(value="hi"))
    served = serve(project)
    assert httpx.get(served.url, timeout=10).text == "greeting=hi"
    manifest = project / "fastly.toml"
    edited = manifest.read_text().replace('greeting = "hi"', 'greeting = "hello"')
    _until_logged(
        served.child, r"fastly.toml changed: stores reloaded", lambda: _write(manifest, edited)
    )
    assert httpx.get(served.url, timeout=10).text == "greeting=hello"


def test_fastly_cli_flags_that_mean_nothing_here_are_accepted_with_a_note(make_project, serve):
    project = make_project(APP, extra=STORE.format(value="hi"))
    served = serve(project, "--watch", "--watch-dir", "src", "--skip-build", "--viceroy-path", "x")
    for flag in ("--watch", "--watch-dir", "--skip-build", "--viceroy-path"):
        assert f"{flag} ignored: " in served.child.stdout
    assert httpx.get(served.url, timeout=10).text == "greeting=hi"
    assert "--watch-dir" not in run_compute_emu("serve", "--help").stdout  # hidden from --help


def test_a_file_a_store_reads_is_followed_too(make_project, serve):
    extra = '[local_server.config_stores.settings]\nformat = "json"\nfile = "settings.json"\n'
    project = make_project(APP, extra=extra)
    (project / "settings.json").write_text('{"greeting": "hi"}')
    (project / "notes.txt").write_text("unrelated")
    served = serve(project)
    assert httpx.get(served.url, timeout=10).text == "greeting=hi"
    _until_logged(
        served.child,
        r"stores reloaded",
        lambda: _write(project / "settings.json", '{"greeting": "hey"}'),
    )
    assert httpx.get(served.url, timeout=10).text == "greeting=hey"
    before = served.child.stdout.count("stores reloaded")
    _write(project / "notes.txt", "still unrelated")  # not a store's file: no reload
    _write(project / "src" / "helper.py", "X = 1\n")  # a Python file: checked, no reload
    time.sleep(0.8)  # the watcher's debounce (0.4 s) and then some
    assert served.child.stdout.count("stores reloaded") == before
