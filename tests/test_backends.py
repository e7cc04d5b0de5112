"""End to end: `send()` to real backend processes, with Viceroy's Host, prefix and error rules."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port
from tests.support.processes import python_module
from tests.support.sdk_hosts import BOTH

SDK_HOSTS = BOTH  # each test also runs on the SDK's Wasm host (tests/support/sdk_hosts.py)

FORWARD_APP = """
from compute_emu.sdk import Request, SendError, Response

def main():
    req = Request.from_client()
    backend = req.get_header("x-backend") or "origin"
    req.remove_header("x-backend")
    try:
        resp = req.send(backend)
    except SendError as e:
        if req.get_path().startswith("/caught"):
            text = f"{e.backend_name()} {e.root_cause().name}"
            Response.from_body(text).with_status(599).send_to_client()
            return
        raise
    resp.set_header("x-via", "compute-emu")
    resp.send_to_client()
"""


def headers_of(data: dict) -> dict[str, str]:
    """The backend's view of the request headers, names lower-cased."""
    return {name.lower(): value for name, value in data["headers"]}


def test_host_header_and_path_prefix_rules(make_project, serve, backend):
    project = make_project(
        FORWARD_APP,
        backends={
            "origin": f"{backend.url}/",
            "prefixed": f"{backend.url}/api/v2/",
            "overridden": {"url": backend.url, "override_host": "example.test"},
        },
    )
    served = serve(project)
    app_authority = served.url.removeprefix("http://")

    plain = httpx.get(f"{served.url}/echo?x=1").json()
    assert plain["path"] == "/echo?x=1"
    assert headers_of(plain)["host"] == app_authority  # the client's Host goes through

    prefixed = httpx.get(f"{served.url}/echo?y=2", headers={"x-backend": "prefixed"}).json()
    assert prefixed["path"] == "/api/v2/echo?y=2"

    overridden = httpx.get(f"{served.url}/echo", headers={"x-backend": "overridden"})
    assert headers_of(overridden.json())["host"] == "example.test"
    assert overridden.headers["x-via"] == "compute-emu"
    served.child.wait_for(r"GET /echo 200 .*\[send→overridden MISS\]")


def test_request_built_by_the_app_uses_its_url_authority_as_host(make_project, serve, backend):
    app = """
    from compute_emu.sdk import Request
    def main():
        Request.from_client()
        Request.get("http://api.example.test:8080/echo?from=app").send("origin").send_to_client()
    """
    served = serve(make_project(app, backends={"origin": backend.url}))
    data = httpx.get(served.url).json()
    assert data["path"] == "/echo?from=app"
    assert headers_of(data)["host"] == "api.example.test:8080"
    assert httpx.get(served.url).json()["method"] == "GET"


def test_post_bodies_are_forwarded_with_length_or_chunked(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    fixed = httpx.post(f"{served.url}/echo", content=b"a=1&b=2").json()
    assert fixed["method"] == "POST" and fixed["body"] == "a=1&b=2"
    assert headers_of(fixed)["content-length"] == "7"
    chunked = httpx.put(f"{served.url}/echo", content=iter([b"x" * 10, b"y" * 5])).json()
    assert chunked["body"] == "x" * 10 + "y" * 5
    assert headers_of(chunked)["transfer-encoding"] == "chunked"


def test_hop_by_hop_headers_are_not_forwarded(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    data = httpx.get(
        f"{served.url}/echo",
        headers={
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "1",
            "TE": "trailers",
            "X-Kept": "yes",
        },
    ).json()
    names = set(headers_of(data))
    assert "x-kept" in names
    assert not names & {"x-secret", "te", "connection"}


def test_large_download_streams_without_buffering(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    size = 256 * 1024 * 1024
    received = 0
    with httpx.stream("GET", f"{served.url}/bytes?n={size}", timeout=60) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            received += len(chunk)
    assert received == size
    status = Path(f"/proc/{served.child.pid}/status").read_text()
    peak_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
    )
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB while streaming {size} bytes"


def test_backend_connections_are_reused(make_project, serve, backend):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        Request.from_client()
        ports = []
        for _ in range(4):
            resp = Request.get("http://b/echo").send("origin")
            resp.take_body_bytes()  # read to the end: the connection goes back to the pool
            ports.append(resp.get_header("x-client-port"))
        Response.from_body(",".join(ports)).send_to_client()
    """
    served = serve(make_project(app, backends={"origin": backend.url}))
    ports = httpx.get(served.url).text.split(",")
    assert len(ports) == 4 and len(set(ports)) == 1, ports


def test_backend_down_is_a_500_with_the_send_error(make_project, serve):
    served = serve(
        make_project(FORWARD_APP, backends={"origin": f"http://127.0.0.1:{free_port()}"})
    )
    r = httpx.get(f"{served.url}/x")
    assert r.status_code == 500
    assert "SendError: connection refused" in r.text  # the clean message (app_errors.py)
    assert "(backend 'origin')" in r.text
    caught = httpx.get(f"{served.url}/caught")
    assert (caught.status_code, caught.text) == (599, "origin ConnectionRefused")


def test_unknown_backend_names_it(make_project, serve, backend, sdk_host):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    r = httpx.get(f"{served.url}/caught", headers={"x-backend": "nope"})
    assert r.text == "nope UnknownBackend"
    r = httpx.get(f"{served.url}/x", headers={"x-backend": "nope"})
    assert r.status_code == 500 and "no backend named 'nope'" in r.text
    # the WIT has no call that lists the backends: only the native host names the known ones
    assert ("known: origin" in r.text) == (sdk_host == "native")


def test_first_byte_timeout_uncaught_is_a_500(make_project, serve, backend):
    spec = {"url": backend.url, "first_byte_timeout_ms": 200}
    served = serve(make_project(FORWARD_APP, backends={"origin": spec}))
    r = httpx.get(f"{served.url}/slow?ms=2000", timeout=10)
    assert r.status_code == 500  # the guest failed (Viceroy: 504 only for a pending response)
    assert "SendError: HTTP response timeout" in r.text
    assert httpx.get(f"{served.url}/slow?ms=10").text == "slow\n"


def test_between_bytes_timeout_uncaught_is_a_500(make_project, serve, backend):
    app = """
    from compute_emu.sdk import Request, Response
    def main():
        resp = Request.from_client().send("origin")
        Response.from_body(resp.take_body_bytes()).send_to_client()
    """
    spec = {"url": backend.url, "between_bytes_timeout_ms": 200}
    served = serve(make_project(app, backends={"origin": spec}))
    assert httpx.get(f"{served.url}/drip?ms=1500", timeout=10).status_code == 500
    assert httpx.get(f"{served.url}/drip?ms=10").text == "ab"


def test_backend_hanging_up_uncaught_is_a_500(make_project, serve, backend, sdk_host):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    r = httpx.get(f"{served.url}/hangup")
    assert r.status_code == 500
    assert "SendError: incomplete HTTP response" in r.text
    # the WIT carries the cause (send-error-detail), not the native host's words
    said = "incomplete HTTP response: the backend closed the connection" in r.text
    assert said == (sdk_host == "native")


def test_backend_status_and_head_pass_through(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    assert httpx.get(f"{served.url}/status?code=404").status_code == 404
    head = httpx.head(f"{served.url}/echo")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0


@pytest.mark.parametrize("n", [0, 1, 65536, 1_000_001])
def test_body_sizes_round_trip(make_project, serve, backend, n):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    r = httpx.get(f"{served.url}/bytes?n={n}")
    assert len(r.content) == n


def test_large_upload_streams_to_the_backend(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    size = 200 * 1024 * 1024
    piece = b"u" * (1 << 20)

    def body():
        for _ in range(size // len(piece)):
            yield piece

    r = httpx.post(f"{served.url}/count", content=body(), timeout=120)
    assert r.text == str(size)
    status = Path(f"/proc/{served.child.pid}/status").read_text()
    peak_kib = int(
        next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
    )
    assert peak_kib < 150 * 1024, f"peak RSS {peak_kib} KiB while uploading {size} bytes"


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for the name backend.test (openssl CLI)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ext = directory / "ext.cnf"
    # what Python 3.13's default verification (VERIFY_X509_STRICT) asks of a leaf certificate
    ext.write_text(
        "subjectAltName=DNS:backend.test\nbasicConstraints=critical,CA:FALSE\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=compute-emu test CA",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=backend.test",
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return ca, cert, key


def test_https_backend_with_cert_host_and_ca_certificate(make_project, serve, spawn, tmp_path):
    ca, cert, key = make_certificates(tmp_path)
    child = spawn(python_module("tests.support.backend", "--tls", str(cert), str(key)))
    port = int(child.wait_for(r"^PORT (\d+)").group(1))
    trusted = {
        "url": f"https://127.0.0.1:{port}/tls",
        "cert_host": "backend.test",
        "override_host": "backend.test",
    }
    project = make_project(
        FORWARD_APP, backends={"origin": trusted, "untrusted": f"https://127.0.0.1:{port}/"}
    )
    toml = project / "fastly.toml"
    toml.write_text(
        toml.read_text().replace(
            'override_host = "backend.test"',
            f'override_host = "backend.test"\nca_certificate = {{ file = "{ca}" }}',
        )
    )
    served = serve(project)
    data = httpx.get(f"{served.url}/echo").json()
    assert data["path"] == "/tls/echo"
    assert headers_of(data)["host"] == "backend.test"
    r = httpx.get(f"{served.url}/caught", headers={"x-backend": "untrusted"})
    assert r.text == "untrusted TlsCertificateError"


def test_backend_body_reaches_the_client_as_it_arrives(make_project, serve, backend):
    served = serve(make_project(FORWARD_APP, backends={"origin": backend.url}))
    with httpx.stream("GET", f"{served.url}/drip?ms=3000", timeout=10) as r:
        chunks = r.iter_raw()
        first = next(chunks)
        started = time.monotonic()
        rest = b"".join(chunks)
    assert (first, rest) == (b"a", b"b")
    assert time.monotonic() - started > 1, "the first byte came only with the last one"
