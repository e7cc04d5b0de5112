"""compute_emu.console.admission: which requests the console answers (pure rules)."""

from __future__ import annotations

import pytest

from compute_emu.console.admission import ConsoleRequest, check_console, is_console_path
from compute_emu.server.admission import Refusal

TOKEN = "per-run-token"
PAGE = "/.compute-emu/console/"
API = "/.compute-emu/console/api/held"


def head(host: str = "127.0.0.1:7676", **extra: str) -> list[tuple[str, bytes]]:
    headers = [("Host", host.encode())]
    headers += [(name.replace("_", "-"), value.encode()) for name, value in extra.items()]
    return headers


def check(
    target: str,
    headers: list[tuple[str, bytes]],
    method: str = "GET",
    peer: str = "127.0.0.1",
) -> ConsoleRequest | Refusal:
    return check_console(method, target, headers, peer, TOKEN)


def refused(result: ConsoleRequest | Refusal, status: int, words: str) -> None:
    assert isinstance(result, Refusal), result
    assert result.status == status
    assert words in result.message
    assert result.message.startswith("compute-emu console: ") and result.message.endswith("\n")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/.compute-emu/console", True),
        ("/.compute-emu/console/", True),
        ("/.compute-emu/console/api/held?token=x", True),
        ("/.compute-emu/console?x=1", True),
        ("/.compute-emu/consoles", False),
        ("/.compute-emu/purge", False),
        ("/console", False),
    ],
)
def test_console_paths(target: str, expected: bool) -> None:
    assert is_console_path(target) is expected


def test_the_page_typed_in_the_address_bar() -> None:
    result = check(PAGE, head(Sec_Fetch_Site="none", Sec_Fetch_Mode="navigate"))
    assert result == ConsoleRequest("page", "", {})


def test_the_page_without_a_slash_is_a_redirect() -> None:
    assert check("/.compute-emu/console", head()) == ConsoleRequest("redirect", "", {})


def test_a_link_from_another_site_may_navigate_to_the_page() -> None:
    headers = head(Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="navigate")
    assert isinstance(check(PAGE, headers), ConsoleRequest)


def test_another_site_may_not_fetch_the_page() -> None:
    headers = head(Sec_Fetch_Site="cross-site", Sec_Fetch_Mode="no-cors")
    refused(check(PAGE, headers), 403, "Sec-Fetch-Site: cross-site")


def test_assets_for_the_page_itself() -> None:
    headers = head(Sec_Fetch_Site="same-origin", Sec_Fetch_Mode="no-cors")
    result = check("/.compute-emu/console/console.js", headers)
    assert result == ConsoleRequest("asset", "console.js", {})
    refused(
        check("/.compute-emu/console/console.js", head(Sec_Fetch_Site="same-site")),
        403,
        "Sec-Fetch-Site: same-site",
    )


def test_unknown_paths_are_404() -> None:
    result = check("/.compute-emu/console/secrets.txt", head())
    assert isinstance(result, Refusal) and result.status == 404
    assert "'/.compute-emu/console/secrets.txt'" in result.message


def test_the_api_with_the_token_header() -> None:
    headers = head(X_Console_Token=TOKEN, Sec_Fetch_Site="same-origin")
    assert check(API + "?x=1", headers) == ConsoleRequest("api", "held", {"x": ["1"]})


def test_the_api_with_the_token_in_the_query_for_get_only() -> None:
    assert isinstance(check(API + f"?token={TOKEN}", head()), ConsoleRequest)
    headers = head(Content_Type="application/json", Origin="http://127.0.0.1:7676")
    refused(check(API + f"?token={TOKEN}", headers, "POST"), 403, "token")


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x", TOKEN[:-1]])
def test_the_api_without_the_right_token(token: str) -> None:
    refused(check(API, head(X_Console_Token=token)), 403, "missing or wrong console token")


def test_a_same_origin_post_with_json() -> None:
    headers = head(
        X_Console_Token=TOKEN,
        Origin="http://127.0.0.1:7676",
        Content_Type="application/json; charset=utf-8",
        Sec_Fetch_Site="same-origin",
    )
    assert check("/.compute-emu/console/api/kv/write", headers, "POST") == ConsoleRequest(
        "api", "kv/write", {}
    )


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_posts_that_a_form_could_send_are_refused(kind: str) -> None:
    headers = head(X_Console_Token=TOKEN, Content_Type=kind)
    result = check("/.compute-emu/console/api/kv/write", headers, "POST")
    assert isinstance(result, Refusal) and result.status == 415


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:3000",  # another port of this machine: another origin
        "http://localhost:7676",  # another name for the same port: another origin too
        "https://127.0.0.1:7676",
        "http://evil.example",
        "null",
    ],
)
def test_another_origin_is_refused_even_with_the_token(origin: str) -> None:
    headers = head(X_Console_Token=TOKEN, Origin=origin, Content_Type="application/json")
    refused(check(API, headers, "POST"), 403, f"(Origin: {origin})")
    refused(check(PAGE, head(Origin=origin)), 403, "another origin")


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_requests_from_other_sites_are_refused(site: str) -> None:
    refused(
        check(API, head(X_Console_Token=TOKEN, Sec_Fetch_Site=site)), 403, f"Sec-Fetch-Site: {site}"
    )


def test_a_typed_address_may_read_the_api_but_not_write() -> None:
    assert isinstance(
        check(API, head(X_Console_Token=TOKEN, Sec_Fetch_Site="none")), ConsoleRequest
    )
    headers = head(X_Console_Token=TOKEN, Sec_Fetch_Site="none", Content_Type="application/json")
    refused(check("/.compute-emu/console/api/publish", headers, "POST"), 403, "Sec-Fetch-Site")


@pytest.mark.parametrize(
    "host", ["evil.example:7676", "192.168.1.5:7676", "", "127.0.0.1.nip.io:7676"]
)
def test_hosts_that_are_not_loopback_are_refused(host: str) -> None:
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends its own Host."""
    headers = head(host, X_Console_Token=TOKEN) if host else [("X-Console-Token", TOKEN.encode())]
    refused(check(API, headers), 403, "needs a loopback Host")


@pytest.mark.parametrize(
    "host", ["localhost:7676", "[::1]:7676", "127.0.0.2:7676", "app.localhost"]
)
def test_loopback_hosts_are_answered(host: str) -> None:
    headers = head(host, X_Console_Token=TOKEN, Origin=f"http://{host}")
    assert isinstance(check(API, headers), ConsoleRequest)


@pytest.mark.parametrize("peer", ["192.168.1.5", "10.0.0.1", "::ffff:192.168.1.5", "not-an-ip"])
def test_peers_on_other_machines_are_refused(peer: str) -> None:
    refused(check(PAGE, head(), peer=peer), 403, "this machine only")


def test_methods() -> None:
    headers = head(X_Console_Token=TOKEN, Content_Type="application/json")
    result = check("/.compute-emu/console/api/kv/write", headers, "PUT")
    assert isinstance(result, Refusal) and result.status == 405
    result = check(PAGE, head(), "POST")
    assert isinstance(result, Refusal) and result.status == 405
    assert check(PAGE, head(), "HEAD") == ConsoleRequest("page", "", {})


def test_the_first_of_repeated_headers_counts() -> None:
    headers = [*head(X_Console_Token=TOKEN), ("Origin", b"http://evil.example")]
    headers += [("Origin", b"http://127.0.0.1:7676")]
    refused(check(API, headers), 403, "evil.example")
