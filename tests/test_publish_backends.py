"""A fastly.toml backend at the declared publish port follows the serve's own publish port."""

from __future__ import annotations

from pathlib import Path

from compute_emu.manifest.loader import parse_manifest
from compute_emu.publish_backends import declared_publish_port, follow_publish_port

BACKENDS = """
[local_server.backends.fastly_api]
url = "http://127.0.0.1:5561/"
override_host = "api.fastly.com"
[local_server.backends.by_name]
url = "http://localhost:5561/realtime"
[local_server.backends.v6]
url = "http://[::1]:5561"
[local_server.backends.tls]
url = "https://127.0.0.1:5561/"
[local_server.backends.elsewhere]
url = "http://10.0.0.1:5561/"
[local_server.backends.other_port]
url = "http://127.0.0.1:5562/"
"""


def manifest(extra: str = ""):  # type: ignore[no-untyped-def]
    text = f'manifest_version = 3\nname = "p"\n{extra}\n{BACKENDS}'
    return parse_manifest(text, Path("/p/fastly.toml"), Path("/p"))


def test_loopback_http_backends_on_the_declared_port_move_to_the_serves():
    before = manifest()
    after, notes = follow_publish_port(before, 5571)
    urls = {name: backend.url for name, backend in after.backends.items()}
    assert urls == {
        "fastly_api": "http://127.0.0.1:5571/",
        "by_name": "http://localhost:5571/realtime",
        "v6": "http://[::1]:5571",
        "tls": "https://127.0.0.1:5561/",  # not the publish port: it speaks plain HTTP
        "elsewhere": "http://10.0.0.1:5561/",
        "other_port": "http://127.0.0.1:5562/",
    }
    moved = after.backends["fastly_api"]
    assert (moved.port, moved.host, moved.override_host) == (5571, "127.0.0.1", "api.fastly.com")
    assert after.backends["by_name"].path_prefix == before.backends["by_name"].path_prefix
    assert notes == [
        f"backend {name} ({before.backends[name].url}) is the publish port fastly.toml "
        f"declares; this serve publishes on port 5571, so {name} goes there (another program "
        "may hold 5561)"
        for name in ("fastly_api", "by_name", "v6")
    ]
    assert before.backends["fastly_api"].port == 5561  # a new manifest; the old one unchanged


def test_nothing_moves_on_the_declared_port_or_without_fanout():
    plain = manifest()
    assert follow_publish_port(plain, 5561) == (plain, [])
    assert follow_publish_port(plain, None) == (plain, [])
    declared = manifest("[local_server.pushpin]\npublish_port = 5562")
    assert declared_publish_port(declared) == 5562 and declared_publish_port(plain) == 5561
    assert follow_publish_port(declared, 5562) == (declared, [])
    after, notes = follow_publish_port(declared, 6000)
    assert after.backends["other_port"].url == "http://127.0.0.1:6000/"
    assert after.backends["fastly_api"].url == "http://127.0.0.1:5561/" and len(notes) == 1
