"""A Fanout handoff whose backend is down: Pushpin's 502 reaches the client, and the request's
log line says why (compute-emu probes the backend's address): refused, not resolving, not
accepting in time. A 502 the backend answers itself gets no such reason. (Tests talk to
127.0.0.1 only: the other reasons are checked on the words alone.)"""

from __future__ import annotations

import pytest

from compute_emu.runtime.handoff import PROBE_TIMEOUT, unreachable_reason
from compute_emu.testing import Emulator
from compute_emu.upstream.errors import FailureKind, UpstreamError
from tests.fanout_support import FORWARD_APP, require_pushpin
from tests.support.ports import free_port


@pytest.mark.parametrize(
    ("kind", "detail", "reason"),
    [
        (
            FailureKind.CONNECT_REFUSED,
            "[Errno 111] Connection refused",
            "backend origin (127.0.0.1:3001) refused the connection: is it running?",
        ),
        (
            FailureKind.CONNECT_TIMEOUT,
            "connect timed out",
            f"backend origin (127.0.0.1:3001) did not accept a connection within "
            f"{PROBE_TIMEOUT:g} s: is the address right (and nothing in the way)?",
        ),
        (
            FailureKind.DNS,
            "[Errno -2] Name or service not known",
            "backend origin (127.0.0.1:3001): its host name does not resolve ([Errno -2] Name "
            "or service not known)",
        ),
        (
            FailureKind.UNREACHABLE,
            "[Errno 101] Network is unreachable",
            "backend origin (127.0.0.1:3001) cannot be reached: destination unavailable: "
            "[Errno 101] Network is unreachable",
        ),
    ],
)
def test_the_reason_for_each_way_a_connect_fails(kind, detail, reason):
    assert unreachable_reason("origin", "127.0.0.1:3001", UpstreamError(kind, detail)) == reason


@pytest.fixture
def project(make_project):  # type: ignore[no-untyped-def]
    return make_project(
        FORWARD_APP,
        backends={"origin": "http://127.0.0.1:9/"},
        extra="[local_server.pushpin]\nenable = true",
    )


def test_a_handoff_to_a_backend_that_is_down_says_it_refused(project):
    require_pushpin()
    port = free_port()
    with Emulator(project, backends={"origin": f"http://127.0.0.1:{port}/"}) as emu:
        response = emu.get("/stream")
        assert response.status_code == 502  # Pushpin's, as the client sees it in production
        logged = emu.log_of(response)
        assert logged.error == (
            f"backend origin (127.0.0.1:{port}) refused the connection: is it running?"
        )
        assert "refused the connection: is it running?" in emu.log.text  # the terminal line


def test_a_502_the_backend_answers_itself_gets_no_reason(project):
    require_pushpin()
    with Emulator(project, backends={"origin": lambda req: 502}) as emu:
        response = emu.get("/stream")
        assert response.status_code == 502
        assert emu.log_of(response).error is None
        assert [r.path for r in emu.mocks["origin"].requests] == ["/stream"]
