"""The request log: one line per request, colour only on a terminal, app output tagged."""

from __future__ import annotations

import io
import threading

from compute_emu.log import AppOutput, RequestLog, RequestRecord, human_bytes, human_duration


def test_human_units():
    assert [human_bytes(n) for n in (0, 1023, 1536, 5 * 1024**2)] == [
        "0B",
        "1023B",
        "1.5KB",
        "5.0MB",
    ]
    assert human_duration(0.0032) == "3.2ms" and human_duration(75.4) == "75.4s"


def record() -> RequestRecord:
    rec = RequestRecord(7, "GET", "/x?y=1", status=404, bytes_sent=2048)
    rec.notes.append("send→origin")
    return rec


def test_request_line_plain_when_not_a_terminal():
    out = io.StringIO()
    RequestLog(out, io.StringIO()).request(record())
    line = out.getvalue()
    assert "\x1b[" not in line
    fields = line.split()
    assert fields[1:4] == ["#7", "GET", "/x?y=1"] and fields[4] == "404"
    assert fields[6] == "2.0KB" and line.rstrip().endswith("[send→origin]")


def test_request_line_coloured_on_a_terminal_and_silent_with_quiet():
    out = io.StringIO()
    RequestLog(out, io.StringIO(), colour=True).request(record())
    assert "\x1b[33m" in out.getvalue()  # 4xx in yellow
    quiet = io.StringIO()
    RequestLog(quiet, io.StringIO(), quiet=True).request(record())
    assert quiet.getvalue() == ""


def test_errors_and_warnings_go_to_stderr():
    out, err = io.StringIO(), io.StringIO()
    log = RequestLog(out, err)
    log.error("broken")
    log.warning("careful")
    log.debug("hidden without --verbose")
    assert out.getvalue() == ""
    assert err.getvalue() == "error: broken\nwarning: careful\n"


def test_app_output_is_tagged_per_thread_and_line():
    out, passthrough = io.StringIO(), io.StringIO()
    output = AppOutput(passthrough)
    log = RequestLog(out, io.StringIO())

    def app(request_id: int) -> None:
        output.bind(log, request_id)
        output.write(f"hello from {request_id}\npartial ")
        output.write("line")
        output.bind(None)  # flushes the unfinished line

    threads = [threading.Thread(target=app, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    output.write("not in a request\n")
    lines = sorted(out.getvalue().splitlines())
    assert lines == [
        "#1 | hello from 1",
        "#1 | partial line",
        "#2 | hello from 2",
        "#2 | partial line",
    ]
    assert passthrough.getvalue() == "not in a request\n"


def test_a_flushed_partial_line_shows_at_once_and_the_rest_continues_it():
    out = io.StringIO()
    output = AppOutput(io.StringIO())
    log = RequestLog(out, io.StringIO(), colour=False)
    output.bind(log, 3)
    output.write("(Pdb) ")
    assert out.getvalue() == ""  # unflushed: held
    output.flush()  # input() and pdb flush their prompt before reading
    assert out.getvalue() == "#3 | (Pdb) "
    output.write("typed\nnext\n")
    assert out.getvalue() == "#3 | (Pdb) typed\n#3 | next\n"
    output.write("prompt> ")
    output.flush()
    log.info("another thread's line")  # ends the open line first
    output.bind(None)
    assert out.getvalue().endswith("#3 | prompt> \nanother thread's line\n")


def test_reading_stdin_ends_the_open_line():
    from compute_emu.log import AppInput

    out = io.StringIO()
    output = AppOutput(io.StringIO())
    log = RequestLog(out, io.StringIO(), colour=False)
    stdin = AppInput(io.StringIO("p x\n"))
    output.bind(log, 1)
    output.write("(Pdb) ")
    output.flush()
    assert stdin.readline() == "p x\n"  # the terminal echoed it, Enter ended the line
    output.write("41\n")
    output.bind(None)
    assert out.getvalue() == "#1 | (Pdb) #1 | 41\n"


def test_colour_is_decided_per_stream_and_by_no_color_and_force_color():
    from compute_emu.log import use_colour

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Tty(), io.StringIO()
    assert use_colour(tty, {}) and not use_colour(pipe, {})
    assert not use_colour(tty, {"NO_COLOR": "1"})
    assert use_colour(pipe, {"FORCE_COLOR": "1"}) and not use_colour(pipe, {"FORCE_COLOR": "0"})
    assert use_colour(tty, {"NO_COLOR": ""})  # set but empty: no effect
    log = RequestLog(pipe, tty)  # stdout piped to a tool, stderr on the terminal
    log.warning("w")
    log.info("i")
    assert tty.getvalue().startswith("\x1b[33mwarning: ") and "\x1b[" not in pipe.getvalue()


def test_json_lines():
    import json

    out, err = io.StringIO(), io.StringIO()
    log = RequestLog(out, err, json_lines=True)
    log.request(record())
    log.warning("careful")
    line = json.loads(out.getvalue())
    assert (line["event"], line["id"], line["status"], line["notes"]) == (
        "request",
        7,
        404,
        ["send→origin"],
    )
    assert json.loads(err.getvalue())["message"] == "careful"
