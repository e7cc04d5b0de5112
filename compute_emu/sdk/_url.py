"""URLs and methods as Rust's ``Url`` and ``http::Method`` take them: parsed, normalised and
percent-encoded the WHATWG way, or refused with a ``ValueError`` naming the value."""

from __future__ import annotations

from urllib.parse import SplitResult, quote, urlsplit

_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))
# WHATWG URL percent-encode sets: these characters are left alone, anything else is escaped.
PATH_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>?`{}')
QUERY_SAFE = "".join(c for c in _PRINTABLE if c not in '"#<>')
_FRAGMENT_SAFE = "".join(c for c in _PRINTABLE if c not in '"<>`')
_BAD_NETLOC = frozenset(' "<>\\^`{|}') | frozenset(map(chr, range(0x20))) | {"\x7f"}
_STRIP = "".join(map(chr, range(0x21)))  # C0 controls and space, trimmed like WHATWG URL


def check_method(method: str) -> str:
    """``method`` if it is an HTTP token, else ``ValueError`` naming it."""
    if not isinstance(method, str) or not method or not _TCHARS.issuperset(method):
        raise ValueError(f"invalid HTTP method {method!r}: must be a non-empty token")
    return method  # case-sensitive (RFC 9110 §9.1): "get" is not GET, as in Rust's http


def _idna_netloc(netloc: str) -> str:
    userinfo, at, hostport = netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"invalid host {host!r}: {exc}") from None
    return f"{userinfo}{at}{host}{colon}{port}"


def parse_url(url: str | SplitResult) -> SplitResult:
    """Parse and normalise an absolute http(s) URL like Rust's ``Url``; ``ValueError`` if not one.

    The scheme is lowercased, an empty path becomes ``/``, non-ASCII hosts are IDNA-encoded and
    characters not allowed in the path, query or fragment are percent-encoded.
    """
    text = url.geturl() if isinstance(url, SplitResult) else url
    if not isinstance(text, str):
        raise TypeError(f"URL must be str, not {type(url).__name__}")
    problem = "must be an absolute http:// or https:// URL"
    try:
        parts = urlsplit(text.strip(_STRIP))
        netloc = parts.netloc if parts.netloc.isascii() else _idna_netloc(parts.netloc)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(problem)
        if _BAD_NETLOC.intersection(netloc):
            raise ValueError("the host contains characters that are not allowed")
        _ = parts.port  # raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL {text!r}: {exc}") from None
    return parts._replace(
        netloc=netloc,
        path=quote(parts.path or "/", safe=PATH_SAFE),
        query=quote(parts.query, safe=QUERY_SAFE),
        fragment=quote(parts.fragment, safe=_FRAGMENT_SAFE),
    )


def has_empty_query(url: str | SplitResult, parsed: SplitResult) -> bool:
    """Whether ``url`` has a ``?`` with nothing after it (Rust keeps it: ``Some("")``)."""
    if isinstance(url, SplitResult) or parsed.query:
        return False
    return "?" in url.partition("#")[0]
