"""Fuzzing the fastly.toml loader (hypothesis, bounded in time).

Every document either loads (manifest, env file, platform stores) or gives a ``UserError``
whose message is one line naming a file of the project; never another exception. Documents
that load produce a pushpin.conf and a routes file that Pushpin reads back as written: no
extra section, key or route.

Inputs: valid TOML with random structure at the keys the loader knows (and random values,
names and file references, including a FIFO, ``/dev/zero``, a directory and files over the
caps), the same with random bytes spliced in, and random bytes.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compute_emu.errors import ManifestError, UserError
from compute_emu.manifest import Manifest, load_manifest
from compute_emu.platform import Platform
from compute_emu.pushpin.config import (
    DEFAULT_SIG_ISS,
    DEFAULT_SIG_KEY,
    PushpinSettings,
    PushpinVersion,
    pushpin_conf,
    routes_file,
)
from compute_emu.pushpin.preflight import find_binary
from compute_emu.runtime.app import App
from compute_emu.serve import ServeSettings, entry_path
from tests.support.pushpin_routes import parse_route_line
from tests.test_manifest_corpus import corpus_project

FUZZ = settings(
    max_examples=800,
    deadline=datetime.timedelta(seconds=5),  # "it did not hang"; each takes milliseconds
    database=None,  # nothing written into the tree
    derandomize=bool(os.environ.get("CI")),  # CI replays the same inputs; a local run explores
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FUZZ_MORE = settings(FUZZ, max_examples=1200)  # the structured documents reach deepest

# --- rendering TOML -----------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return value.isoformat()  # a date


def render(doc: dict[str, Any], inline: bool) -> str:
    """``doc`` as TOML: tables as ``[headers]`` (or all inline)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], path: tuple[str, ...]) -> None:
        subtables = []
        for key, value in table.items():
            if isinstance(value, dict) and not inline:
                subtables.append((key, value))
            else:
                lines.append(f"{toml_key(key)} = {toml_value(value)}")
        for key, value in subtables:
            lines.append("[" + ".".join(toml_key(k) for k in (*path, key)) + "]")
            emit(value, (*path, key))

    emit(doc, ())
    return "\n".join(lines) + "\n"


# --- documents ------------------------------------------------------------------------------

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=20)
scalars = st.one_of(
    text,
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
FILES = [
    "files/cert.pem",
    "files/not_pem.txt",
    "files/latin1.pem",
    "files/not_json.txt",
    "files/acl_bad.json",
    "files/kv_dev_zero.json",
    "files/nested.json",
    "files/bad.env",
    "files/fifo",
    "files/big.json",
    "files/big.env",
    "files",
    "files/missing",
    "/dev/zero",
    "",
]
# names no system call takes: a NUL, control characters, over PATH_MAX or NAME_MAX
odd_paths = (
    st.sampled_from(["\0", "src/main\0.py", "files/\n/x", "\x1b[2J", "a\rb", "files/\x7f"])
    | st.builds(
        lambda part, n: "/".join([part] * n),
        st.sampled_from(["a", "files", "..", "x" * 100]),
        st.integers(1, 2100),
    )
    | st.integers(200, 5000).map(lambda n: "n" * n)
    | st.text(st.characters(max_codepoint=0x9F), max_size=20)
)
file_names = st.sampled_from(FILES) | text | odd_paths
commands = text | odd_paths
PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake==\n-----END CERTIFICATE-----\n"


@st.composite
def maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """Mostly the plausible value, sometimes (one in ten) anything."""
    return draw(values) if draw(st.integers(0, 9)) == 0 else draw(strategy)


def table(
    keys: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """A table with any of ``keys`` (each maybe wrong) and sometimes an unknown key."""
    known = st.fixed_dictionaries(
        {k: maybe(v) for k, v in keys.items() if k in required},
        optional={k: maybe(v) for k, v in keys.items() if k not in required},
    )
    extra = st.dictionaries(st.sampled_from([*keys, "x", "ur\x1bl"]) | text, values, max_size=1)
    return st.builds(lambda a, b: {**b, **a}, known, st.one_of(st.just({}), st.just({}), extra))


hosts = (
    st.sampled_from(
        ["127.0.0.1", "localhost", "[::1]", "a,b", "x\ny", "é.example", "[fe80::1%25eth0]", ""]
    )
    | st.from_regex(r"[a-z0-9.\-]{1,10}", fullmatch=True)
    | ascii_text
)
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
    st.sampled_from(["http://", "https://", "ftp://", "", "http:///"]),
    hosts,
    st.sampled_from(["", ":80", ":0", ":99999", ":x", ":3000"]),
    st.sampled_from(["/", "", "/a,b", '/q"x', "/#frag", "/?q"]) | ascii_text,
)
backend_names = (
    st.sampled_from(
        ["origin", "my origin", 'a "b", #c', "b\nid=evil 127.0.0.1:22", " origin", "", "o" * 256]
    )
    | text
)
conf_values = (
    st.sampled_from(
        [
            "viceroy",
            "viceroy\n[runner]\nhttp_port=0.0.0.0:27691",
            "a;b",
            "a,b",
            "{rundir}",
            " a",
            "@x",
        ]
    )
    | ascii_text
    | text
)
backend = table(
    {
        "url": urls,
        "override_host": hosts | ascii_text,
        "cert_host": hosts,
        "use_sni": st.booleans(),
        "grpc": st.booleans(),
        "first_byte_timeout_ms": st.integers(-5, 10**6),
        "between_bytes_timeout_ms": st.integers(-5, 10**6),
        "health": st.sampled_from(["unknown", "healthy", "unhealthy", "ok"]),
        "client_certificate": table(
            {
                "certificate": st.sampled_from([PEM, "files/cert.pem"]),
                "certificate_file": file_names,
                "key": st.just(PEM.replace("CERTIFICATE", "PRIVATE KEY")),
                "key_file": file_names,
            }
        ),
        "ca_certificate": st.one_of(
            st.just(PEM),
            table({"file": file_names, "value": st.just(PEM)}),
            st.lists(st.just(PEM) | table({"file": file_names}), max_size=2),
        ),
    }
)
store_file = table({"format": st.sampled_from(["json", "inline-toml", "yaml"]), "file": file_names})
local_server = table(
    {
        "backends": st.dictionaries(backend_names, backend, max_size=3),
        "pushpin": table(
            {
                "enable": st.booleans(),
                "pushpin_path": commands,
                "proxy_port": st.integers(-1, 70000),
                "publish_port": st.integers(-1, 70000),
                "sig_iss": conf_values,
                "sig_key": conf_values,
            }
        ),
        "config_stores": st.dictionaries(
            text,
            store_file
            | table(
                {
                    "format": st.just("inline-toml"),
                    "contents": st.dictionaries(text, text, max_size=2),
                }
            ),
            max_size=2,
        ),
        "kv_stores": st.dictionaries(
            text,
            st.lists(table({"key": text, "data": text, "file": file_names}), max_size=2)
            | store_file,
            max_size=2,
        ),
        "secret_stores": st.dictionaries(
            text,
            st.lists(
                table({"key": text, "data": text, "file": file_names, "env": text}), max_size=2
            )
            | store_file,
            max_size=2,
        ),
        "geolocation": table(
            {
                "format": st.sampled_from(["json", "inline-toml"]),
                "file": file_names,
                "addresses": st.dictionaries(
                    st.sampled_from(["127.0.0.1", "::1", "x"]),
                    st.dictionaries(text, scalars, max_size=2),
                    max_size=2,
                ),
                "use_default_loopback": st.booleans(),
            }
        ),
        "device_detection": table(
            {
                "format": st.sampled_from(["json", "inline-toml"]),
                "file": file_names,
                "user_agents": st.dictionaries(text, values, max_size=2),
            }
        ),
        "acls": st.dictionaries(text, file_names | table({"file": file_names}), max_size=2),
    }
)
documents = table(
    {
        "manifest_version": st.sampled_from([3] * 10 + [2, 0, -1, 4, "v3", "3.0.0", "x"]),
        "name": text,
        "description": text,
        "authors": st.lists(text, max_size=2),
        "language": text,
        "scripts": table(
            {
                "build": commands,
                "env_vars": st.lists(
                    st.sampled_from(["A=1", "A", "=1", "B=x=y"]) | text, max_size=3
                ),
                "env_file": file_names,
                "entry": file_names,
            }
        ),
        "local_server": local_server,
    },
    required=("local_server",),
)


@st.composite
def spliced(draw: st.DrawFn) -> bytes:
    """A rendered document with a few random byte strings written over or into it."""
    data = bytearray(render(draw(documents), draw(st.booleans())).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        chunk = draw(
            st.binary(min_size=1, max_size=4) | st.text(min_size=1, max_size=4).map(str.encode)
        )
        if draw(st.booleans()):
            data[at : at + len(chunk)] = chunk
        else:
            data[at:at] = chunk
    return bytes(data)


# --- the property -------------------------------------------------------------------------


def conf_entries(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def use_named_paths(manifest: Manifest) -> None:
    """What ``serve`` does with the entry file and the Pushpin command a manifest names
    (compiling the entry, finding the binary), short of running either."""
    saved = list(sys.path)  # App puts the entry's directory on it
    try:
        App(entry_path(ServeSettings(project_dir=manifest.project_dir), manifest))
    except UserError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc), str(exc)
    finally:
        sys.path[:] = saved
    if manifest.pushpin.pushpin_path is not None:
        try:
            find_binary(manifest.pushpin.pushpin_path)
        except UserError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc), str(exc)


def check_loads_or_one_line_error(project: Path, data: bytes) -> None:
    (project / "fastly.toml").write_bytes(data)
    try:
        manifest = load_manifest(project)
        manifest.env()
        Platform.from_manifest(manifest, environ={})
        use_named_paths(manifest)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(f"{project}/"), message  # names a file of the project
        event("error: " + (exc.problem if isinstance(exc, ManifestError) else message)[:25])
        return
    event("loaded")
    # what loaded is written into Pushpin's files without changing their shape
    pushpin = PushpinSettings(
        sig_iss=manifest.pushpin.sig_iss or DEFAULT_SIG_ISS,
        sig_key=manifest.pushpin.sig_key or DEFAULT_SIG_KEY,
    )
    conf = pushpin_conf(pushpin, PushpinVersion(1, 36), "/r", "/routes")
    clean = pushpin_conf(PushpinSettings(), PushpinVersion(1, 36), "/r", "/routes")
    keys = [line.split("=", 1)[0] for line in conf_entries(conf)]
    assert keys == [line.split("=", 1)[0] for line in conf_entries(clean)]
    routes = [parse_route_line(line) for line in routes_file(manifest.backends, 5561).splitlines()]
    probes = routes_file({}, 5561).count("\n")
    assert [r[0][1]["id"] for r in routes[: len(routes) - probes]] == list(manifest.backends)
    assert all(len(r) == 2 for r in routes)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus_project(
        tmp_path_factory.mktemp("fuzz"),
        Path(__file__).parent / "manifest_corpus" / "toml_bare_word_value.toml",
    )


@FUZZ_MORE
@given(doc=documents, inline=st.booleans())
def test_structured_manifests_load_or_give_one_line(
    project: Path, doc: dict[str, Any], inline: bool
):
    text = render(doc, inline)
    tomllib.loads(text)  # the generator writes valid TOML
    check_loads_or_one_line_error(project, text.encode())


@FUZZ
@given(data=spliced())
def test_manifests_with_random_bytes_spliced_in(project: Path, data: bytes):
    check_loads_or_one_line_error(project, data)


@FUZZ
@given(
    data=st.binary(max_size=300)
    | text.map(str.encode)
    | st.integers(90, 2000).map(lambda n: ("a = " + "[" * n + "]" * n).encode())
    | st.integers(90, 400).map(lambda n: (".".join(["k"] * n) + " = 1").encode())
)
def test_random_bytes(project: Path, data: bytes):
    check_loads_or_one_line_error(project, data)
