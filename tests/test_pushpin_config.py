"""Pushpin's generated configuration: pure functions of settings, backends and version."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute_emu.errors import UserError
from compute_emu.manifest import parse_manifest
from compute_emu.pushpin.config import (
    PushpinSettings,
    PushpinVersion,
    check_rundir,
    parse_version,
    pushpin_conf,
    route_line,
    routes_file,
    services_line,
)
from compute_emu.pushpin.logs import parse_line


def backends(toml: str):  # type: ignore[no-untyped-def]
    return parse_manifest(toml, Path("/p/fastly.toml"), Path("/p")).backends


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("pushpin 1.36.0\n", (1, 36, 0)),
        ("pushpin 1.41.2", (1, 41, 2)),
        ("Pushpin v1.40", (1, 40, 0)),
        ("a warning first\npushpin 1.39.1\n", (1, 39, 1)),
    ],
)
def test_parse_version(output, version):
    assert parse_version(output) == PushpinVersion(*version)


@pytest.mark.parametrize(
    ("output", "said"),
    [
        ("nonsense", "'nonsense'"),
        ("ls (GNU coreutils) 9.1\nCopyright (C) 2022\n", "'ls (GNU coreutils) 9.1'"),
        ("condure 1.9.1\n", "'condure 1.9.1'"),  # one of Pushpin's parts, not Pushpin
        ("Python 3.11.2\n", "'Python 3.11.2'"),
        ("pushpin-publish 1.36.0\n", "'pushpin-publish 1.36.0'"),
        ("\n", "nothing"),
    ],
)
def test_a_binary_that_does_not_say_pushpin_is_not_pushpin(output, said):
    with pytest.raises(UserError) as caught:
        parse_version(output, "/usr/bin/x")
    assert str(caught.value) == (
        f"/usr/bin/x is not Pushpin: `/usr/bin/x --version` printed {said} (Pushpin prints "
        "e.g. 'pushpin 1.36.0'); point --pushpin-path or [local_server.pushpin] pushpin_path "
        "at Pushpin"
    )


@pytest.mark.parametrize(
    ("version", "services"),
    [
        ((1, 36), "condure,zurl,pushpin-proxy,pushpin-handler"),
        ((1, 37, 5), "condure,zurl,pushpin-proxy,pushpin-handler"),
        ((1, 38), "condure,pushpin-proxy,pushpin-handler"),
        ((1, 39, 1), "condure,pushpin-proxy,pushpin-handler"),
        ((1, 40), "connmgr,proxy,handler"),
        ((1, 41, 0), "connmgr,proxy,handler"),
    ],
)
def test_services_line_follows_the_version(version, services):
    assert services_line(PushpinVersion(*version)) == services


def conf_for(version: tuple[int, int]) -> dict[str, str]:
    text = pushpin_conf(
        PushpinSettings(proxy_port=7000, publish_port=7001, sig_iss="iss", sig_key="key"),
        PushpinVersion(*version),
        "/tmp/ce-pp-x/run",
        "/tmp/ce-pp-x/routes",
    )
    assert all("#" not in line or line.startswith("#") for line in text.splitlines())
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_conf_binds_loopback_only_and_opens_no_zmq_tcp_port():
    conf = conf_for((1, 36))
    assert conf["http_port"] == "127.0.0.1:7000"
    assert conf["push_in_http_addr"] == "127.0.0.1"
    assert conf["push_in_http_port"] == "7001"
    assert not any(value.startswith("tcp://") for value in conf.values())
    assert conf["accept_pushpin_route"] == "true"
    assert (conf["sig_iss"], conf["sig_key"]) == ("iss", "key")
    assert conf["rundir"] == "/tmp/ce-pp-x/run"
    # both spellings of the publish size limit: each version reads one of them
    assert conf["push_in_max_body_size"] == conf["push_in_http_max_body_size"] == "65536"


def test_zurl_links_are_overridden_only_where_zurl_runs():
    assert conf_for((1, 36))["zurl_out_specs"] == "ipc://{rundir}/{ipc_prefix}zurl-in"
    assert "zurl_out_specs" not in conf_for((1, 40))


def test_route_lines_as_the_fastly_cli_builds_them():
    parsed = backends(
        """
[local_server.backends.origin]
url = "https://example.com/"
override_host = "example.com"
[local_server.backends.self]
url = "http://localhost:7676/"
[local_server.backends.api]
url = "http://127.0.0.1:3000/realtime/"
"""
    )
    assert (
        route_line(parsed["origin"]) == "id=origin example.com:443,over_http,ssl,host=example.com"
    )
    # a named host becomes the route's host (the CLI's default); an IP does not
    assert route_line(parsed["self"]) == "id=self localhost:7676,over_http,host=localhost:7676"
    assert route_line(parsed["api"]) == "id=api,replace_beg=/realtime 127.0.0.1:3000,over_http"


def test_routes_file_has_one_line_per_backend_and_the_probes():
    text = routes_file(backends('[local_server.backends.a]\nurl = "http://127.0.0.1:1/"\n'), 7001)
    lines = text.splitlines()
    assert lines[0] == "id=a 127.0.0.1:1,over_http"
    assert lines[1] == "id=compute-emu-probe-client 127.0.0.1:7001"
    assert lines[2].startswith("id=compute-emu-probe-accept,prefix=compute-emu-probe- test")
    assert text.endswith("\n")


def test_rundir_too_long_for_unix_sockets_is_a_clear_error():
    check_rundir("/tmp/" + "x" * 70, PushpinVersion(1, 36))
    with pytest.raises(UserError, match="too long for unix sockets"):
        check_rundir("/tmp/" + "x" * 80, PushpinVersion(1, 36))
    with pytest.raises(UserError):
        check_rundir("/tmp/" + "x" * 70, PushpinVersion(1, 40))  # longer socket names there


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("[INFO] 2026-11-26 15:38:43.991 [proxy] started", ("INFO", "[proxy] started")),
        (
            "[ERR] 2026-11-26 15:38:43.991 condure: Exited unexpectedly",
            ("ERROR", "condure: Exited unexpectedly"),
        ),
        ("[WARN] 2026-11-26 15:38:43.991 something", ("WARN", "something")),
        ("free text", ("INFO", "free text")),
    ],
)
def test_log_lines_are_parsed(line, parsed):
    assert parse_line(line) == parsed


def test_settings_precedence_is_flag_then_manifest_then_default():
    from compute_emu.pushpin.config import pushpin_settings

    manifest = parse_manifest(
        "[local_server.pushpin]\nenable = true\nproxy_port = 8001\npublish_port = 0\n"
        'sig_key = "k"\n',
        Path("/p/fastly.toml"),
        Path("/p"),
    )
    enabled, settings = pushpin_settings(False, None, None, manifest.pushpin)
    assert enabled
    assert (settings.proxy_port, settings.publish_port) == (8001, 5561)  # 0 counts as unset
    assert (settings.sig_iss, settings.sig_key) == ("viceroy", "k")
    _, flagged = pushpin_settings(False, 9001, None, manifest.pushpin)
    assert flagged.proxy_port == 9001
    bare = parse_manifest("", Path("/p/fastly.toml"), Path("/p"))
    assert pushpin_settings(False, None, None, bare.pushpin)[0] is False
    assert pushpin_settings(True, None, None, bare.pushpin)[0] is True


def test_pushpin_lines_problems_always_the_rest_on_verbose():
    import io

    from compute_emu.log import RequestLog
    from compute_emu.pushpin.logs import relay_line

    for verbose in (False, True):
        out, err = io.StringIO(), io.StringIO()
        log = RequestLog(out, err, verbose=verbose)
        relay_line(log, "[INFO] 2026-11-26 15:38:43.991 [proxy] routes loaded with 3 entries")
        relay_line(log, "[ERR] 2026-11-26 15:38:43.991 condure: Exited unexpectedly")
        relay_line(log, "[WARN] 2026-11-26 15:38:43.991 [handler] slow")
        assert err.getvalue() == (
            "error: pushpin: condure: Exited unexpectedly\nwarning: pushpin: [handler] slow\n"
        )
        shown = out.getvalue()
        assert ("pushpin info: [proxy] routes loaded with 3 entries" in shown) is verbose


# --- values from fastly.toml cannot rewrite Pushpin's files ----------------------------------


def test_route_lines_parse_back_to_the_backend_as_pushpin_reads_them():
    from tests.support.pushpin_routes import parse_route_line

    parsed = backends(
        """
[local_server.backends.'my "origin", #1 \\ = x']
url = "http://127.0.0.1:3000/a,b%22c/"
override_host = 'x.example,"y"#z'
"""
    )
    (backend,) = parsed.values()
    line = route_line(backend)
    condition, target = parse_route_line(line)
    assert condition == ("", {"id": 'my "origin", #1 \\ = x', "replace_beg": "/a,b%22c"})
    assert target == ("127.0.0.1:3000", {"over_http": "", "host": 'x.example,"y"#z'})
    # plain values stay unquoted, as the Fastly CLI writes them
    assert route_line(backends('[local_server.backends.a]\nurl = "http://h:1/"\n')["a"]) == (
        "id=a h:1,over_http,host=h:1"
    )


def test_routes_file_gets_no_extra_route_from_a_value():
    from tests.support.pushpin_routes import parse_route_line

    name = "b id=evil 127.0.0.1:22"
    toml = f'[local_server.backends."{name}"]\nurl = "http://127.0.0.1:1/"\n'
    lines = routes_file(backends(toml), 7001).splitlines()
    probes = routes_file({}, 7001).splitlines()
    assert lines[1:] == probes  # one line for the backend, nothing else added
    assert parse_route_line(lines[0]) == [
        ("", {"id": name}),
        ("127.0.0.1:1", {"over_http": ""}),
    ]


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "a\x7fb"])
def test_a_control_character_never_reaches_the_routes_file(value):
    from compute_emu.manifest import BackendConfig
    from compute_emu.pushpin.config import route_value

    with pytest.raises(UserError, match="control character"):
        route_value(value)
    backend = BackendConfig(value, "http://h/", "http", "h", 80, "")
    with pytest.raises(UserError):
        routes_file({value: backend}, 7001)


@pytest.mark.parametrize(
    "value",
    [
        "viceroy\n[runner]\nhttp_port=0.0.0.0:27691",
        "a\rb",
        "a;b",
        "a,b",
        "{rundir}",
        'a"b',
        "a\\b",
        " a",
        "é",
        "@x",
    ],
)
def test_pushpin_conf_refuses_values_that_change_its_meaning(value):
    for settings in (PushpinSettings(sig_iss=value), PushpinSettings(sig_key=value)):
        with pytest.raises(UserError, match="cannot write sig_"):
            pushpin_conf(settings, PushpinVersion(1, 36), "/tmp/r", "/tmp/routes")


def test_pushpin_conf_keeps_values_pushpin_reads_as_written():
    # each of these was checked against Pushpin 1.36: the Grip-Sig still verifies
    value = "a b#c=d:e/f@g!$%&'()*+<>?[]^`|~"
    text = pushpin_conf(
        PushpinSettings(sig_iss=value, sig_key=value), PushpinVersion(1, 36), "/r", "/routes"
    )
    assert f"sig_iss={value}\n" in text and f"sig_key={value}\n" in text


def test_condure_host_unreachable_is_not_an_error_line_while_pushpin_starts():
    """Seen while Pushpin starts (its internal links still connecting): shown on -v only."""
    import io

    from compute_emu.log import RequestLog
    from compute_emu.pushpin.logs import relay_line

    other = "[ERR] 2026-11-26 15:38:43.991 [condure] [condure::zhttpsocket] zmq send: Bad"
    for verbose in (False, True):
        out, err = io.StringIO(), io.StringIO()
        log = RequestLog(out, err, verbose=verbose)
        relay_line(log, UNREACHABLE, starting=True)
        connmgr = UNREACHABLE.replace("[ERR]", "[ERROR]").replace("condure]", "connmgr]", 1)
        relay_line(log, connmgr, starting=True)
        relay_line(log, other, starting=True)
        assert err.getvalue() == "error: pushpin: [condure] [condure::zhttpsocket] zmq send: Bad\n"
        assert ("stream zmq send to: Host unreachable" in out.getvalue()) is verbose


def test_condure_host_unreachable_once_pushpin_is_ready_is_a_warning():
    """After readiness it means held streams will stall or be cancelled: say so."""
    import io

    from compute_emu.log import RequestLog
    from compute_emu.pushpin.logs import relay_line

    out, err = io.StringIO(), io.StringIO()
    relay_line(RequestLog(out, err, verbose=False), UNREACHABLE)
    assert "Host unreachable" in err.getvalue() and "held streams may stall" in err.getvalue()


OUT_OF_SEQUENCE = (
    "[WARN] 2026-12-07 12:02:40.512 [handler] zhttp server: error id=1-0-0 "
    "received message out of sequence, canceling"
)


def test_a_probe_stream_cancelled_while_pushpin_starts_is_shown_on_verbose_only():
    """Pushpin 1.36 now and then cancels a stream it has just taken over; while it starts,
    that stream is the readiness probe's own, which opens another."""
    import io

    from compute_emu.log import RequestLog
    from compute_emu.pushpin.logs import relay_line

    websocket = OUT_OF_SEQUENCE.replace("zhttp server", "zws server")
    for verbose in (False, True):
        out, err = io.StringIO(), io.StringIO()
        log = RequestLog(out, err, verbose=verbose)
        relay_line(log, OUT_OF_SEQUENCE, starting=True)
        relay_line(log, websocket, starting=True)
        relay_line(log, "[WARN] 2026-12-07 12:02:40.512 [handler] slow", starting=True)
        assert err.getvalue() == "warning: pushpin: [handler] slow\n"
        assert out.getvalue().count("received message out of sequence") == (2 if verbose else 0)


def test_a_client_stream_cancelled_once_pushpin_is_ready_is_a_warning_that_says_so():
    import io

    from compute_emu.log import RequestLog
    from compute_emu.pushpin.logs import relay_line

    out, err = io.StringIO(), io.StringIO()
    relay_line(RequestLog(out, err, verbose=False), OUT_OF_SEQUENCE)
    assert err.getvalue().startswith("warning: pushpin: [handler] zhttp server: error id=1-0-0")
    assert "Pushpin ended a held stream" in err.getvalue()


UNREACHABLE = (
    "[ERR] 2026-11-26 15:38:43.991 [condure] [condure::zhttpsocket] "
    "stream zmq send to: Host unreachable"
)


@pytest.mark.parametrize("level", [1, 2])
def test_log_level_is_info_only_when_shown(level):
    """Pushpin logs a line per request at level 2; compute-emu shows them on -v only, so
    without -v it runs Pushpin at 1 (warnings and errors) and never reads lines to drop."""
    text = pushpin_conf(
        PushpinSettings(proxy_port=7000, publish_port=7001, sig_iss="iss", sig_key="key"),
        PushpinVersion(1, 36),
        "/tmp/ce-pp-x/run",
        "/tmp/ce-pp-x/routes",
        log_level=level,
    )
    assert f"log_level={level}" in text.splitlines()
