"""Publishing from the app as in production (docs/publishing.md): the guide's example, run as
written through `compute-emu serve` and through compute_emu.testing's PUBLISH; Fastly's
publish path on the publish port; two serves side by side never publish into each other."""

from __future__ import annotations

import contextlib
import queue
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from gripcontrol import GripPubControl, HttpStreamFormat
from pubcontrol import Item

from compute_emu.errors import UserError
from compute_emu.testing import PUBLISH, SELF, Emulator
from tests.conftest import Served
from tests.fanout_support import LineReader, require_pushpin
from tests.support.ports import free_port

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "publishing.md"


def guide_block(first_line: str) -> str:
    """The guide's fenced block that starts with ``first_line`` (``# fastly.toml``...)."""
    for block in re.findall(r"```\w*\n(.*?)```", GUIDE.read_text(), re.DOTALL):
        if block.startswith(first_line + "\n"):
            return block
    raise AssertionError(f"docs/publishing.md has no block starting with {first_line!r}")


def votes_project(root: Path, app_port: int, toml_edit: Callable[[str], str] = str) -> Path:
    """The guide's example, as written, with the app's port (the `self` backend) changed."""
    root.mkdir(parents=True)
    (root / "src").mkdir()
    toml = guide_block("# fastly.toml").replace("127.0.0.1:7676", f"127.0.0.1:{app_port}")
    (root / "fastly.toml").write_text(toml_edit(toml))
    (root / "src" / "main.py").write_text(guide_block("# src/main.py"))
    return root


class Votes:
    """A running copy of the example (served by ``served``, publishing on ``publish_port``):
    its streams, and its votes."""

    def __init__(self, served: Served, publish_port: int) -> None:
        self.served = served
        self.url = served.url
        self.publish_port = publish_port
        self.streams: list[LineReader] = []

    def open_stream(self) -> LineReader:
        reader = LineReader(f"{self.url}/events")
        self.streams.append(reader)
        return reader

    def vote(self, option: str) -> str:
        """Vote for ``option``; the totals as the app publishes them (its JSON)."""
        r = httpx.post(f"{self.url}/vote", params={"option": option}, trust_env=False)
        assert r.status_code == 200, r.text
        return r.text.strip()

    def settle(self) -> None:
        """Vote "warm-up" until every stream of ``streams`` has had two events (subscriptions
        take a moment). A stream that ends meanwhile is opened again in its place: Pushpin 1.36
        cancels a few held streams after their first message ("received message out of
        sequence" in its handler's log; docs/fanout.md), so a stream that got two is held."""
        deadline = time.monotonic() + 15
        events = [0] * len(self.streams)
        while min(events) < 2:
            assert time.monotonic() < deadline, "the streams never got two published events"
            self.vote("warm-up")
            for i, stream in enumerate(self.streams):
                if events[i] < 2 and _has_event(stream, 0.3):
                    events[i] += 1
                elif stream.done.is_set() and stream.lines.empty():
                    stream.close()
                    self.streams[i] = LineReader(f"{self.url}/events")
                    events[i] = 0

    def output(self) -> str:
        return "\n".join(self.served.child.stdout_lines + self.served.child.stderr_lines)

    def close(self) -> None:
        for reader in self.streams:
            reader.close()


def _has_event(reader: LineReader, timeout: float) -> bool:
    try:
        while not reader.next_line(timeout).startswith("data: "):
            pass
    except queue.Empty:
        return False
    return True


def serve_votes(serve: Callable[..., Served], project: Path, port: int, publish: int) -> Votes:
    served = serve(
        project,
        "--addr",
        f"127.0.0.1:{port}",
        "--pushpin-proxy-port",
        str(free_port()),
        "--pushpin-publish-port",
        str(publish),
    )
    served.child.snapshot_descendants()
    return Votes(served, publish)


@pytest.fixture
def votes(tmp_path: Path, serve: Callable[..., Served]) -> Iterator[Votes]:
    """The guide's example, served with Pushpin on free ports (not fastly.toml's 5561)."""
    require_pushpin()
    port = free_port()
    app = serve_votes(serve, votes_project(tmp_path / "votes", port), port, free_port())
    try:
        yield app
    finally:
        app.close()


def test_the_guides_example_publishes_through_its_backend_to_every_stream(votes: Votes) -> None:
    for _ in range(3):
        votes.open_stream()
    votes.settle()
    totals = votes.vote("a")
    assert totals.startswith('{"a": 1, "b": 0, "warm-up": ')
    for stream in votes.streams:
        stream.wait_for(f"data: {totals}")
    # the serve ran with another publish port than fastly.toml's: the backend followed it
    lines = votes.output()
    assert "backend fastly_api (http://127.0.0.1:5561/) is the publish port" in lines
    assert f"serve publishes on port {votes.publish_port}" in lines
    # the token was accepted and not checked, and that was said once
    assert lines.count("not checked locally") == 1


def test_fastly_and_grip_url_shapes_on_the_publish_port(votes: Votes) -> None:
    votes.open_stream()
    votes.settle()
    stream = votes.streams[0]
    base = f"http://127.0.0.1:{votes.publish_port}"
    item = {"channel": "votes", "formats": {"http-stream": {"content": "data: 1\n\n"}}}
    body = {"items": [item]}
    with httpx.Client(trust_env=False) as client:
        # Fastly's publish API, with its token header and its host name
        r = client.post(
            f"{base}/service/SU1Z0isxPaozGVKXdv0eY/publish/",
            json=body,
            headers={"Fastly-Key": "whatever", "Host": "api.fastly.com"},
        )
        assert (r.status_code, r.text, r.headers["content-type"]) == (
            200,
            "Published\n",
            "text/plain",
        )
        stream.wait_for("data: 1")
        r = client.post(
            f"{base}/service/abc123/publish/",
            json=body,
            headers={"Authorization": "Bearer t", "Accept": "application/json"},
        )
        assert (r.status_code, r.json()) == (200, {"message": "Published"})
        stream.wait_for("data: 1")
        # Pushpin's own answers come back through Fastly's path too
        r = client.post(f"{base}/service/abc123/publish/", content=b"{nope")
        assert (r.status_code, r.text) == (400, "Body is not valid JSON.\n")
        r = client.get(f"{base}/service/abc123/publish/")
        assert (r.status_code, r.text) == (405, "Method not allowed: GET.\n")
        # no trailing slash, another path, a service id that is not one
        r = client.post(f"{base}/service/abc123/publish", json=body)
        assert r.status_code == 404 and "requires the trailing slash" in r.text
        r = client.post(f"{base}/service/abc123/purge_all", json=body)
        assert r.status_code == 404 and "GRIP URL" in r.text
        r = client.post(f"{base}/service/a-b/publish/", json=body)
        assert r.status_code == 404 and "alphanumeric" in r.text
        # another host name is still refused (DNS rebinding)
        r = client.post(f"{base}/publish/", json=body, headers={"Host": "evil.example"})
        assert r.status_code == 403
    # a GRIP library given the GRIP URL's shape appends /publish/ to it
    grip = GripPubControl({"control_uri": f"{base}/service/SU1Z0isxPaozGVKXdv0eY", "key": "t"})
    grip.publish("votes", Item(HttpStreamFormat("data: 2\n\n")), blocking=True)
    stream.wait_for("data: 2")


def test_publish_target_in_compute_emu_testing(tmp_path: Path) -> None:
    require_pushpin()
    project = votes_project(tmp_path / "votes", 7676)
    with Emulator(project, backends={"self": SELF, "fastly_api": PUBLISH}) as emu:
        streams = [emu.stream("/events") for _ in range(2)]
        deadline = time.monotonic() + 15
        while not all(b"event: totals" in s.received for s in streams):
            assert time.monotonic() < deadline, [s.received for s in streams]
            assert emu.post("/vote", params={"option": "warm-up"}).status_code == 200
            time.sleep(0.2)
        totals = emu.post("/vote", params={"option": "b"}).text.strip()
        expected = f"event: totals\ndata: {totals}\n\n".encode()
        deadline = time.monotonic() + 10
        while not all(expected in s.received for s in streams):
            assert time.monotonic() < deadline, [s.received for s in streams]
            time.sleep(0.01)
        assert emu.publish_url == f"http://127.0.0.1:{emu.server.pushpin_settings.publish_port}"


def test_publish_without_fanout_is_a_clear_error(tmp_path: Path) -> None:
    project = votes_project(tmp_path / "votes", 7676)
    with pytest.raises(UserError, match="'fastly_api' is PUBLISH, but Fanout is off"):
        Emulator(project, backends={"fastly_api": PUBLISH}, pushpin=False).start()


def test_two_serves_side_by_side_publish_only_into_their_own_pushpin(
    tmp_path: Path, serve: Callable[..., Served]
) -> None:
    """The second serve's fastly.toml even declares the first one's publish port (a copied
    config): its backend follows its own port, and each publish port reaches its own streams."""
    require_pushpin()
    first_publish = free_port()

    def declare_first(toml: str) -> str:
        toml = toml.replace("127.0.0.1:5561", f"127.0.0.1:{first_publish}")
        return toml.replace(
            "[local_server.pushpin]\n", f"[local_server.pushpin]\npublish_port = {first_publish}\n"
        )

    apps: dict[str, Votes] = {}
    try:
        for name, publish in (("first", first_publish), ("second", free_port())):
            port = free_port()
            project = votes_project(tmp_path / name, port, declare_first)
            apps[name] = serve_votes(serve, project, port, publish)
        for app in apps.values():
            app.open_stream()
            app.settle()
        streams = {name: app.streams[0] for name, app in apps.items()}
        for name, app in apps.items():  # a vote in each app reaches its own stream
            totals = app.vote(f"{name}-option")
            streams[name].wait_for(f"data: {totals}")
        for name, app in apps.items():  # a publish straight to each publish port
            content = f"data: {name}-publish\n\n"
            item = {"channel": "votes", "formats": {"http-stream": {"content": content}}}
            r = httpx.post(f"http://127.0.0.1:{app.publish_port}/publish/", json={"items": [item]})
            assert r.status_code == 200
            streams[name].wait_for(f"data: {name}-publish")
        assert "publish port fastly.toml declares" in apps["second"].output()
        assert "publish port fastly.toml declares" not in apps["first"].output()
        time.sleep(0.5)  # anything misrouted would have arrived by now
        for name, stream in streams.items():
            other = "second" if name == "first" else "first"
            rest = []
            with contextlib.suppress(queue.Empty):
                while True:
                    rest.append(stream.lines.get_nowait())
            assert not [line for line in rest if other in line], rest
    finally:
        for app in apps.values():
            app.close()
