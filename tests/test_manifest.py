"""Tests for compute_emu.manifest: fastly.toml parsing and validation."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from compute_emu.errors import ManifestError
from compute_emu.manifest import (
    BackendConfig,
    ClientCertificate,
    Manifest,
    PushpinConfig,
    Scripts,
    load_manifest,
    locate,
    manifest_path,
    parse_manifest,
    render_key,
)

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeCA==\n-----END CERTIFICATE-----\n"
CLIENT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakeClient=\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIGHfakeKey==\n-----END PRIVATE KEY-----\n"

# §9: the fanout-forward starter kit's fastly.toml, verbatim.
FANOUT_FORWARD = """\
# This file describes a Fastly Compute package. To learn more visit:
# https://www.fastly.com/documentation/reference/compute/fastly-toml/

name = "Fanout forwarding starter kit for Rust"
description = "Enables Fanout on a service, forwarding to a backend."
authors = ["<devrel@fastly.com>"]
language = "rust"
manifest_version = 3

[local_server.pushpin]
enable = true

[local_server.backends]
[local_server.backends.origin]
url = "http://localhost:3000/"
override_host = "localhost:3000"

[setup.backends]
[setup.backends.origin]

[setup.products]
[setup.products.fanout]
enable = true

[scripts]
build = "cargo build --profile release"
"""

HEAD = 'manifest_version = 3\n[local_server.backends.origin]\nurl = "http://localhost:3000/"\n'


def write(directory: Path, text: str, name: str = "fastly.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Manifest:
    write(tmp_path, text)
    return load_manifest(tmp_path)


def load_error(tmp_path: Path, text: str) -> ManifestError:
    write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    return info.value


# --- whole files ---------------------------------------------------------------------------


def test_fanout_forward_starter(tmp_path: Path) -> None:
    m = load(tmp_path, FANOUT_FORWARD)
    assert m.path == tmp_path / "fastly.toml"
    assert m.project_dir == tmp_path
    assert m.manifest_version == 3
    assert m.name == "Fanout forwarding starter kit for Rust"
    assert m.description == "Enables Fanout on a service, forwarding to a backend."
    assert m.authors == ("<devrel@fastly.com>",)
    assert m.language == "rust"
    assert m.scripts == Scripts(build="cargo build --profile release")
    assert m.pushpin == PushpinConfig(enable=True)
    assert m.warnings == ()
    assert list(m.backends) == ["origin"]
    assert m.backends["origin"] == BackendConfig(
        name="origin",
        url="http://localhost:3000/",
        scheme="http",
        host="localhost",
        port=3000,
        path_prefix="",
        override_host="localhost:3000",
    )
    origin = m.backends["origin"]
    assert (origin.use_sni, origin.grpc, origin.health) == (True, False, "unknown")
    assert origin.authority == "localhost:3000"
    assert set(m.local_server) == {"pushpin", "backends"}


def test_backend_with_certificate_files(tmp_path: Path) -> None:
    write(tmp_path, CA_PEM, "certs/ca.pem")
    write(tmp_path, CLIENT_PEM, "certs/client.crt")
    write(tmp_path, KEY_PEM, "certs/client.key")
    m = load(
        tmp_path,
        """\
        manifest_version = 3
        [local_server.backends.origin]
        url = "https://example.com/api"
        override_host = "example.com"
        cert_host = "example.com"
        use_sni = true
        first_byte_timeout_ms = 15000
        ca_certificate = { file = "certs/ca.pem" }
        [local_server.backends.origin.client_certificate]
        certificate_file = "certs/client.crt"
        key_file = "certs/client.key"
        """,
    )
    origin = m.backends["origin"]
    assert (origin.scheme, origin.host, origin.port, origin.path_prefix) == (
        "https",
        "example.com",
        443,
        "/api",
    )
    assert origin.cert_host == "example.com"
    assert origin.first_byte_timeout_ms == 15000
    assert origin.between_bytes_timeout_ms is None
    assert origin.ca_certificates == (CA_PEM,)
    assert origin.client_certificate == ClientCertificate(certificate=CLIENT_PEM, key=KEY_PEM)


def test_all_backend_keys_and_ca_forms(tmp_path: Path) -> None:
    write(tmp_path, CA_PEM, "ca.pem")
    ca, client, key = (json.dumps(pem) for pem in (CA_PEM, CLIENT_PEM, KEY_PEM))
    m = load(
        tmp_path,
        "[local_server.backends.a]\n"
        'url = "HTTPS://[::1]:8443/x/"\n'
        "use_sni = false\n"
        "grpc = true\n"
        "between_bytes_timeout_ms = 0\n"
        'health = "unhealthy"\n'
        f'ca_certificate = [{ca}, {{ file = "ca.pem" }}, {{ value = {ca} }}]\n'
        f"client_certificate = {{ certificate = {client}, key = {key} }}\n"
        "[local_server.backends.b]\n"
        'url = "http://Example.COM"\n'
        "ca_certificate = []\n"
        "[local_server.backends.c]\n"
        'url = "http://10.0.0.1:81"\n'
        f'ca_certificate = """{CA_PEM}"""\n',
    )
    a, b, c = m.backends.values()
    assert (a.scheme, a.host, a.port, a.path_prefix, a.authority) == (
        "https",
        "::1",
        8443,
        "/x",
        "[::1]:8443",
    )
    assert (a.use_sni, a.grpc, a.between_bytes_timeout_ms, a.health) == (
        False,
        True,
        0,
        "unhealthy",
    )
    assert a.ca_certificates == (CA_PEM, CA_PEM, CA_PEM)
    assert a.client_certificate == ClientCertificate(certificate=CLIENT_PEM, key=KEY_PEM)
    assert (b.host, b.port, b.authority, b.ca_certificates) == (
        "example.com",
        80,
        "example.com:80",
        (),
    )
    assert c.ca_certificates == (CA_PEM,)
    assert c.authority == "10.0.0.1:81"


def test_scripts_and_setup_sections(tmp_path: Path) -> None:
    m = load(
        tmp_path,
        """\
        manifest_version = 3
        name = "my-app"
        profile = "dev"
        service_id = "abc"
        cloned_from = "https://github.com/fastly/x"
        some_future_key = { anything = 1 }

        [scripts]
        build = "cargo build --profile release"
        post_init = "npm install"
        post_build = "echo built"
        env_vars = ["GOARCH=wasm", "GOOS=wasip1", "EMPTY="]
        env_file = ".env"
        entry = "app/main.py"
        unknown_script = 1

        [setup.backends.origin]
        address = "example.com"
        port = 443

        [setup.products.fanout]
        enable = true
        """,
    )
    assert m.scripts.build == "cargo build --profile release"
    assert m.scripts.env_vars == ("GOARCH=wasm", "GOOS=wasip1", "EMPTY=")
    assert m.scripts.env_file == tmp_path / ".env"
    assert m.scripts.entry == tmp_path / "app/main.py"
    assert m.backends == {}
    assert m.pushpin == PushpinConfig()
    assert m.warnings == ()


def test_empty_file_uses_defaults_and_warns(tmp_path: Path) -> None:
    m = load(tmp_path, "")
    assert (m.manifest_version, m.name, m.description, m.authors, m.language) == (3, "", "", (), "")
    assert m.scripts == Scripts(build=None, env_vars=(), env_file=None, entry=None)
    assert m.env() == {}
    assert len(m.warnings) == 1
    assert "fastly.toml: manifest_version: missing; assuming 3" in m.warnings[0]


def test_empty_strings_mean_unset(tmp_path: Path) -> None:
    m = load(tmp_path, '[scripts]\nbuild = ""\nenv_file = ""\nentry = ""\n')
    assert m.scripts == Scripts()


def test_manifest_is_immutable(tmp_path: Path) -> None:
    m = load(tmp_path, FANOUT_FORWARD)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        m.backends["new"] = m.backends["origin"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.backends["origin"].port = 1  # type: ignore[misc]


def test_parse_manifest_is_pure(tmp_path: Path) -> None:
    m = parse_manifest(FANOUT_FORWARD, Path("x/fastly.toml"), tmp_path)
    assert m.path == Path("x/fastly.toml")
    assert m.backends["origin"].port == 3000
    with pytest.raises(ManifestError) as info:
        parse_manifest("a = ", Path("x/fastly.toml"), tmp_path)
    assert str(info.value).startswith("x/fastly.toml:1:5: invalid TOML: ")


def test_utf8_bom_is_accepted_and_bad_utf8_rejected(tmp_path: Path) -> None:
    (tmp_path / "fastly.toml").write_bytes(b'\xef\xbb\xbfname = "bom"\nmanifest_version = 3\n')
    assert load_manifest(tmp_path).name == "bom"
    (tmp_path / "fastly.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ManifestError, match=r"fastly\.toml: not UTF-8"):
        load_manifest(tmp_path)


# --- file selection ----------------------------------------------------------------------------


def test_manifest_path(tmp_path: Path) -> None:
    assert manifest_path(tmp_path) == tmp_path / "fastly.toml"
    assert manifest_path(tmp_path, None) == tmp_path / "fastly.toml"
    assert manifest_path(tmp_path, "") == tmp_path / "fastly.toml"
    assert manifest_path(tmp_path, "staging") == tmp_path / "fastly.staging.toml"


def test_env_selects_file(tmp_path: Path) -> None:
    write(tmp_path, 'manifest_version = 3\nname = "default"\n')
    write(tmp_path, 'manifest_version = 3\nname = "staging"\n', "fastly.staging.toml")
    assert load_manifest(tmp_path).name == "default"
    staging = load_manifest(tmp_path, "staging")
    assert staging.name == "staging"
    assert staging.path == tmp_path / "fastly.staging.toml"


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "fastly.toml") in message
    assert f"no fastly.toml found in {tmp_path}" in message
    assert "-C DIR" in message
    assert "\n" not in message


def test_missing_env_manifest(tmp_path: Path) -> None:
    write(tmp_path, "manifest_version = 3\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path, "prod")
    assert "fastly.prod.toml" in str(info.value)
    assert "--env prod" in str(info.value)


def test_relative_project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        tmp_path, '[scripts]\nentry = "main.py"\n[local_server.pushpin]\npushpin_path = "bin/p"\n'
    )
    monkeypatch.chdir(tmp_path)
    m = load_manifest(Path("."))
    assert m.path == Path("fastly.toml")
    assert m.project_dir == tmp_path
    assert m.scripts.entry == tmp_path / "main.py"
    assert m.pushpin.pushpin_path == str(tmp_path / "bin/p")


# --- manifest_version -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("1", 1), ("2", 2), ("3", 3), ('"2"', 2), ('"1.0.0"', 1), ('"3.1"', 3), ('"v3"', 3)],
)
def test_manifest_version_forms(tmp_path: Path, literal: str, expected: int) -> None:
    m = load(tmp_path, f"manifest_version = {literal}\n")
    assert m.manifest_version == expected
    assert m.warnings == ()


@pytest.mark.parametrize("text", ["", 'name = "x"\n', "manifest_version = 0\n"])
def test_manifest_version_missing_warns(tmp_path: Path, text: str) -> None:
    m = load(tmp_path, text)
    assert m.manifest_version == 3
    assert any("manifest_version: missing; assuming 3" in w for w in m.warnings)


# --- errors ------------------------------------------------------------------------------------

B = "local_server.backends.origin"
P = "local_server.pushpin"


def bk(line: str) -> str:
    """HEAD plus one line (line 4) in [local_server.backends.origin]."""
    return HEAD + line


def url(value: str) -> str:
    """A backend whose url (line 2) is ``value``."""
    return f'[local_server.backends.origin]\nurl = "{value}"\n'


def pp(line: str) -> str:
    """[local_server.pushpin] with one line (line 2)."""
    return "[local_server.pushpin]\n" + line


def v3(text: str) -> str:
    """``manifest_version = 3`` (line 1) then ``text``."""
    return "manifest_version = 3\n" + text


ERROR_CASES = [
    # (toml, key, problem fragment, line)
    (
        "manifest_version = 4\n",
        "manifest_version",
        "manifest_version 4 is newer than this tool supports (latest is 3)",
        1,
    ),
    ('manifest_version = "5.0.0"\n', "manifest_version", "manifest_version 5 is newer", 1),
    ("manifest_version = true\n", "manifest_version", "got a boolean (true)", 1),
    ("manifest_version = 3.0\n", "manifest_version", "got a float (3.0)", 1),
    ('manifest_version = "three"\n', "manifest_version", "got a string ('three')", 1),
    ("manifest_version = -1\n", "manifest_version", "must be a positive integer", 1),
    (v3("name = 1\n"), "name", "expected a string, got an integer (1)", 2),
    (v3("description = []\n"), "description", "expected a string", 2),
    (v3("language = {}\n"), "language", "got a table", 2),
    (v3('authors = "me"\n'), "authors", "expected an array of strings", 2),
    (v3('authors = ["a", 2]\n'), "authors[1]", "expected a string", 2),
    (v3("scripts = 1\n"), "scripts", "expected a table", 2),
    (v3("[scripts]\nbuild = 1\n"), "scripts.build", "expected a string", 3),
    (v3('[scripts]\nenv_vars = "A=1"\n'), "scripts.env_vars", "array of strings", 3),
    (
        v3('[scripts]\nenv_vars = ["A=1", "B"]\n'),
        "scripts.env_vars[1]",
        "\"KEY=VALUE\", got 'B'",
        3,
    ),
    (v3('[scripts]\nenv_vars = ["=1"]\n'), "scripts.env_vars[0]", "KEY=VALUE", 3),
    (v3("[scripts]\nenv_vars = [1]\n"), "scripts.env_vars[0]", "expected a string", 3),
    (v3("[scripts]\nenv_file = 1\n"), "scripts.env_file", "expected a string", 3),
    (v3("[scripts]\nentry = true\n"), "scripts.entry", "expected a string", 3),
    (v3("local_server = 1\n"), "local_server", "expected a table", 2),
    (v3("[local_server]\nbackends = 1\n"), "local_server.backends", "expected a table", 3),
    (v3('[local_server.backends]\norigin = "http://x/"\n'), B, "expected a table, got a string", 3),
    (bk('overide_host = "x"\n'), f"{B}.overide_host", 'did you mean "override_host"?', 4),
    (bk("port = 1\n"), f"{B}.port", "accepted keys: url, override_host, cert_host", 4),
    (v3("[local_server.backends.origin]\nuse_sni = true\n"), B, 'missing required key "url"', 2),
    ("[local_server.backends.origin]\nurl = 3000\n", f"{B}.url", "expected a string", 2),
    (url(""), f"{B}.url", "must not be empty", 2),
    (url("localhost:3000"), f"{B}.url", 'has no scheme; write "http://localhost:3000"', 2),
    (url("ftp://h/"), f"{B}.url", "only http and https are supported", 2),
    (url("ws://h/"), f"{B}.url", "has scheme 'ws'", 2),
    (url("http:///x"), f"{B}.url", "has no host", 2),
    (url("http://h:99999/"), f"{B}.url", "invalid port '99999'", 2),
    (url("http://h:abc/"), f"{B}.url", "invalid port 'abc'", 2),
    (url("http://h:0/"), f"{B}.url", "invalid port 0", 2),
    (url("http://h /"), f"{B}.url", "contains whitespace", 2),
    (url("http://[::1/"), f"{B}.url", "not a valid URL", 2),
    (bk('override_host = ""\n'), f"{B}.override_host", "must not be empty", 4),
    (bk("override_host = 1\n"), f"{B}.override_host", "expected a string", 4),
    (bk("cert_host = false\n"), f"{B}.cert_host", "expected a string", 4),
    (bk('use_sni = "yes"\n'), f"{B}.use_sni", "expected true or false", 4),
    (bk("grpc = 1\n"), f"{B}.grpc", "expected true or false, got an integer (1)", 4),
    (bk("first_byte_timeout_ms = -1\n"), f"{B}.first_byte_timeout_ms", "must be 0 or more", 4),
    (bk('first_byte_timeout_ms = "1"\n'), f"{B}.first_byte_timeout_ms", "expected an integer", 4),
    (bk("first_byte_timeout_ms = 1.5\n"), f"{B}.first_byte_timeout_ms", "expected an integer", 4),
    (
        bk("between_bytes_timeout_ms = true\n"),
        f"{B}.between_bytes_timeout_ms",
        "expected an integer, got a boolean",
        4,
    ),
    (bk('health = "sick"\n'), f"{B}.health", "expected one of unknown, healthy, unhealthy", 4),
    (bk('client_certificate = "x"\n'), f"{B}.client_certificate", "expected a table", 4),
    (
        bk('client_certificate = { certificate_file = "c", key_file = "k", cert = "x" }\n'),
        f"{B}.client_certificate.cert",
        'did you mean "certificate"?',
        4,
    ),
    (
        bk('client_certificate = { key_file = "k" }\n'),
        f"{B}.client_certificate",
        'missing "certificate" (PEM text) or "certificate_file"',
        4,
    ),
    (
        bk('[local_server.backends.origin.client_certificate]\ncertificate = "x"\n')
        + 'certificate_file = "y"\n',
        f"{B}.client_certificate.certificate_file",
        'either "certificate" or "certificate_file", not both',
        6,
    ),
    (
        bk('client_certificate = { certificate = "-----BEGIN X", key = "k.pem" }\n'),
        f"{B}.client_certificate.key",
        'is not PEM text (no -----BEGIN line); to read a file, write key_file = "k.pem"',
        4,
    ),
    (
        bk('client_certificate = { certificate = "-----BEGIN X", key_file = "" }\n'),
        f"{B}.client_certificate.key_file",
        "file name must not be empty",
        4,
    ),
    (bk("ca_certificate = 5\n"), f"{B}.ca_certificate", "expected PEM text, { file = ... }", 4),
    (
        bk('ca_certificate = "certs/ca.pem"\n'),
        f"{B}.ca_certificate",
        'not PEM text (no -----BEGIN line); to read a file, write { file = "certs/ca.pem" }',
        4,
    ),
    (bk('ca_certificate = { files = "a" }\n'), f"{B}.ca_certificate.files", '"file"?', 4),
    (bk('ca_certificate = { file = "a", value = "b" }\n'), f"{B}.ca_certificate", "exactly one", 4),
    (bk("ca_certificate = {}\n"), f"{B}.ca_certificate", 'exactly one of "file" or "value"', 4),
    (bk('ca_certificate = { value = "nope" }\n'), f"{B}.ca_certificate.value", "is not PEM", 4),
    (
        bk("ca_certificate = [\n  { value = 1 },\n]\n"),
        f"{B}.ca_certificate[0].value",
        "expected a string",
        4,
    ),
    (bk('ca_certificate = ["-----BEGIN X", 7]\n'), f"{B}.ca_certificate[1]", "an integer (7)", 4),
    (v3("[local_server]\npushpin = true\n"), P, "expected a table", 3),
    (pp("pushpin_proxy_port = 7677\n"), f"{P}.pushpin_proxy_port", 'did you mean "proxy_port"?', 2),
    (pp("pushpin_publish_port = 1\n"), f"{P}.pushpin_publish_port", '"publish_port"?', 2),
    (pp("enable = 'yes'\n"), f"{P}.enable", "expected true or false", 2),
    (pp("proxy_port = 70000\n"), f"{P}.proxy_port", "expected a port number 1-65535", 2),
    (pp("publish_port = -1\n"), f"{P}.publish_port", "got -1", 2),
    (pp("proxy_port = '7677'\n"), f"{P}.proxy_port", "expected an integer", 2),
    (pp("pushpin_path = 1\n"), f"{P}.pushpin_path", "expected a string", 2),
    (pp("sig_iss = 1\n"), f"{P}.sig_iss", "expected a string", 2),
    (pp("sig_key = false\n"), f"{P}.sig_key", "expected a string", 2),
    ("[local_server]\npushpin.enable = 1\n", f"{P}.enable", "expected true or false", 2),
]


@pytest.mark.parametrize(("text", "key", "problem", "line"), ERROR_CASES)
def test_errors(tmp_path: Path, text: str, key: str, problem: str, line: int) -> None:
    err = load_error(tmp_path, text)
    message = str(err)
    assert err.key == key
    assert err.path == str(tmp_path / "fastly.toml")
    assert err.line == line
    assert message.startswith(f"{tmp_path / 'fastly.toml'}:{line}:")
    assert f": {key}: " in message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ('name = "x"\nmanifest_version = \n', 2, 20, "Invalid value"),
        ("[local_server\n", 1, 14, "Expected ']'"),
        ('name = "a"\nname = "b"\n', 2, 11, "Cannot overwrite a value"),
        ('name = """abc', 1, 14, "Unterminated string"),
    ],
)
def test_syntax_error(tmp_path: Path, text: str, line: int, column: int, fragment: str) -> None:
    err = load_error(tmp_path, text)
    assert (err.line, err.column, err.key) == (line, column, "")
    message = str(err)
    assert message.startswith(f"{tmp_path / 'fastly.toml'}:{line}:{column}: invalid TOML: ")
    assert fragment in message
    assert "(at line" not in message and "(at end" not in message


def test_missing_certificate_files(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        HEAD + "[local_server.backends.origin.client_certificate]\n"
        'certificate_file = "certs/client.crt"\nkey_file = "certs/client.key"\n',
    )
    assert err.key == "local_server.backends.origin.client_certificate.certificate_file"
    assert err.line == 5
    assert str(tmp_path / "certs/client.crt") in str(err)
    assert "No such file or directory" in str(err)

    write(tmp_path, CLIENT_PEM, "certs/client.crt")
    err = load_error(
        tmp_path,
        HEAD + 'client_certificate = { certificate_file = "certs/client.crt", '
        'key_file = "certs/client.key" }\n',
    )
    assert err.key == "local_server.backends.origin.client_certificate.key_file"
    assert str(tmp_path / "certs/client.key") in str(err)
    assert err.line == 4

    err = load_error(
        tmp_path, HEAD + 'ca_certificate = [{ file = "certs/client.crt" }, { file = "x.pem" }]\n'
    )
    assert err.key == "local_server.backends.origin.ca_certificate[1].file"
    assert str(tmp_path / "x.pem") in str(err)

    write(tmp_path, "not a certificate\n", "bad.pem")
    err = load_error(tmp_path, HEAD + 'ca_certificate = { file = "bad.pem" }\n')
    assert err.key == "local_server.backends.origin.ca_certificate.file"
    assert "is not PEM text" in str(err)

    (tmp_path / "bin.pem").write_bytes(b"\xff\xfe")
    err = load_error(tmp_path, HEAD + 'ca_certificate = { file = "bin.pem" }\n')
    assert "not UTF-8" in str(err)


def test_backend_error_in_second_backend_names_it(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        HEAD + '\n[local_server.backends."my.api"]\nurl = "http://api/"\nhealth = "up"\n',
    )
    assert err.key == 'local_server.backends."my.api".health'
    assert err.line == 7


def test_url_query_and_credentials_warn(tmp_path: Path) -> None:
    m = load(tmp_path, '[local_server.backends.o]\nurl = "http://u:p@h:81/a?q=1#f"\n')
    assert m.backends["o"].authority == "h:81"
    assert m.backends["o"].path_prefix == "/a"
    assert any("local_server.backends.o.url: credentials" in w for w in m.warnings)
    assert any("query string and fragment" in w for w in m.warnings)


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("http://h", ""),
        ("http://h/", ""),
        ("http://h//", ""),
        ("http://h/api", "/api"),
        ("http://h/api/", "/api"),
        ("https://h:8443/a/b/", "/a/b"),
        ("http://h/a%20b/", "/a%20b"),
        ("http://[::1]/v1", "/v1"),
    ],
)
def test_path_prefix(tmp_path: Path, url: str, prefix: str) -> None:
    m = load(tmp_path, f'manifest_version = 3\n[local_server.backends.o]\nurl = "{url}"\n')
    assert m.backends["o"].path_prefix == prefix
    assert m.backends["o"].url == url


@pytest.mark.parametrize(
    ("url", "host", "port", "authority"),
    [
        ("http://h", "h", 80, "h:80"),
        ("https://h", "h", 443, "h:443"),
        ("http://h:443", "h", 443, "h:443"),
        ("https://[2001:db8::1]", "2001:db8::1", 443, "[2001:db8::1]:443"),
        ("http://127.0.0.1:3000/", "127.0.0.1", 3000, "127.0.0.1:3000"),
    ],
)
def test_host_port_authority(
    tmp_path: Path, url: str, host: str, port: int, authority: str
) -> None:
    origin = load(tmp_path, f'[local_server.backends.o]\nurl = "{url}"\n').backends["o"]
    assert (origin.host, origin.port, origin.authority) == (host, port, authority)


# --- pushpin -----------------------------------------------------------------------------------


def test_pushpin_all_keys(tmp_path: Path) -> None:
    m = load(
        tmp_path,
        """\
        manifest_version = 3
        [local_server.pushpin]
        enable = true
        pushpin_path = "tools/pushpin"
        proxy_port = 7700
        publish_port = 5600
        sig_iss = "me"
        sig_key = "secret"
        """,
    )
    assert m.pushpin == PushpinConfig(
        enable=True,
        pushpin_path=str(tmp_path / "tools/pushpin"),
        proxy_port=7700,
        publish_port=5600,
        sig_iss="me",
        sig_key="secret",
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pushpin", "pushpin"),
        ("/usr/bin/pushpin", "/usr/bin/pushpin"),
        ("./p", "{dir}/p"),
        ("", None),
    ],
)
def test_pushpin_path(tmp_path: Path, path: str, expected: str | None) -> None:
    m = load(tmp_path, f'[local_server.pushpin]\npushpin_path = "{path}"\n')
    assert m.pushpin.pushpin_path == (expected.format(dir=tmp_path) if expected else None)


def test_pushpin_zero_ports_are_unset(tmp_path: Path) -> None:
    m = load(tmp_path, "[local_server.pushpin]\nproxy_port = 0\npublish_port = 0\n")
    assert (m.pushpin.proxy_port, m.pushpin.publish_port, m.pushpin.enable) == (None, None, False)


# --- local_server raw sections and warnings ---------------------------------------------------


def test_known_local_server_sections_kept_raw(tmp_path: Path) -> None:
    m = load(
        tmp_path,
        """\
        manifest_version = 3
        [local_server]
        kv_stores.empty_store = []
        acls.my-acl-1 = "acl1.json"
        fake_valid_fastly_keys = ["k"]
        viceroy_version = "0.20.2"
        [local_server.config_stores.animals]
        format = "inline-toml"
        [local_server.config_stores.animals.contents]
        dog = "woof"
        [local_server.geolocation]
        use_default_loopback = false
        [local_server.websockets_passthrough]
        enable = false
        """,
    )
    assert m.warnings == ()
    assert m.local_server["config_stores"]["animals"]["contents"] == {"dog": "woof"}
    assert m.local_server["kv_stores"] == {"empty_store": []}
    assert m.local_server["websockets_passthrough"] == {"enable": False}


def test_unknown_local_server_key_warns(tmp_path: Path) -> None:
    text = "manifest_version = 3\n[local_server]\nkv_store = {}\n[local_server.mystery]\na = 1\n"
    m = load(tmp_path, text)
    assert len(m.warnings) == 2
    first, second = m.warnings
    assert first.startswith(f"{tmp_path / 'fastly.toml'}:3:1: local_server.kv_store: ")
    assert 'unknown key "kv_store"; did you mean "kv_stores"?' in first
    assert first.endswith("; ignored")
    assert second.startswith(f"{tmp_path / 'fastly.toml'}:4:1: local_server.mystery: ")
    assert m.local_server["mystery"] == {"a": 1}


# --- env() -------------------------------------------------------------------------------------


def test_env_vars_and_env_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        """\
        # comment
        B=from file

        export C = "quoted value"
        D='single'
        E=a=b
        F=
        """,
        ".env",
    )
    m = load(tmp_path, '[scripts]\nenv_vars = ["A=1", "B=2", "X=y=z"]\nenv_file = ".env"\n')
    assert m.env() == {
        "A": "1",
        "B": "from file",
        "X": "y=z",
        "C": "quoted value",
        "D": "single",
        "E": "a=b",
        "F": "",
    }


def test_env_file_malformed_line(tmp_path: Path) -> None:
    write(tmp_path, "A=1\n\nnot a pair\n", "config/build.env")
    m = load(tmp_path, '[scripts]\nenv_file = "config/build.env"\n')
    with pytest.raises(ManifestError) as info:
        m.env()
    err = info.value
    assert err.path == str(tmp_path / "config/build.env")
    assert err.line == 3
    assert str(err).startswith(f"{tmp_path / 'config/build.env'}:3:")
    assert "'not a pair'" in str(err)


def test_env_file_missing(tmp_path: Path) -> None:
    m = load(tmp_path, 'manifest_version = 3\n[scripts]\nenv_file = "missing.env"\n')
    with pytest.raises(ManifestError) as info:
        m.env()
    err = info.value
    assert err.key == "scripts.env_file"
    assert err.line == 3
    assert str(tmp_path / "fastly.toml") in str(err)
    assert str(tmp_path / "missing.env") in str(err)


# --- locate / render_key -----------------------------------------------------------------------

LOCATE_TEXT = '''\
name = "x"
cert = """
MIIBfake==
url = "not a key"
"""
[local_server]
kv_stores.one = [
  { key = "first", data = "x" },
]
backends.inline = { url = "http://h/", bogus = 1 }

  [local_server.backends."my.origin"]
  url = "http://h/"   # comment [x]
  'literal key' = 1
[[setup.list]]
x = 1
'''


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (("name",), (1, 1)),
        (("local_server",), (6, 1)),
        (("local_server", "kv_stores", "one"), (7, 1)),
        (("local_server", "kv_stores", "one", 0, "key"), (7, 1)),
        (("local_server", "backends", "inline", "bogus"), (10, 40)),
        (("local_server", "backends", "inline"), (10, 1)),
        (("local_server", "backends", "my.origin"), (12, 3)),
        (("local_server", "backends", "my.origin", "url"), (13, 3)),
        (("local_server", "backends", "my.origin", "literal key"), (14, 3)),
        (("local_server", "backends", "my.origin", "missing"), (12, 3)),
        (("setup", "list", "x"), (16, 1)),
        (("url",), None),
        (("key",), None),
        (("MIIBfake",), None),
        (("nowhere", "at", "all"), None),
        ((), None),
    ],
)
def test_locate(key: tuple[str | int, ...], expected: tuple[int, int] | None) -> None:
    assert locate(LOCATE_TEXT, key) == expected


@pytest.mark.parametrize(
    ("key", "rendered"),
    [
        (("local_server", "backends", "origin"), "local_server.backends.origin"),
        (("local_server", "backends", "my.api", "url"), 'local_server.backends."my.api".url'),
        (("scripts", "env_vars", 2), "scripts.env_vars[2]"),
        (("a", 0, "file"), "a[0].file"),
        (('q"x',), '"q\\"x"'),
        (("a\nb", "é"), '"a\\nb"."é"'),
    ],
)
def test_render_key(key: tuple[str | int, ...], rendered: str) -> None:
    assert render_key(key) == rendered
