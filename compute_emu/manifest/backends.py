"""``[local_server.backends.NAME]`` (Viceroy's schema: unknown keys are an error)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ._context import Context, describe
from .locate import KeyPath, render_key
from .model import HEALTH_VALUES, BackendConfig, ClientCertificate
from .values import (
    backend_name_problem,
    host_header_problem,
    url_characters_problem,
    url_host_problem,
)

BACKEND_KEYS = (
    "url",
    "override_host",
    "cert_host",
    "use_sni",
    "grpc",
    "client_certificate",
    "ca_certificate",
    "first_byte_timeout_ms",
    "between_bytes_timeout_ms",
    "health",
)
CLIENT_CERTIFICATE_KEYS = ("certificate", "certificate_file", "key", "key_file")
CA_CERTIFICATE_KEYS = ("file", "value")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_backends(ctx: Context, value: Any) -> dict[str, BackendConfig]:
    """Validate the ``[local_server.backends]`` table, keeping file order."""
    key: KeyPath = ("local_server", "backends")
    table = ctx.table(value, key)
    return {name: parse_backend(ctx, name, raw) for name, raw in table.items()}


def parse_backend(ctx: Context, name: str, value: Any) -> BackendConfig:
    """Validate one backend table."""
    key: KeyPath = ("local_server", "backends", name)
    problem = backend_name_problem(name)
    if problem:
        ctx.fail(key, problem)
    if not isinstance(value, dict):
        ctx.fail(
            key,
            f"expected a table, got {describe(value)} "
            f'(write [{render_key(key)}] with url = "http://...")',
        )
    ctx.check_keys(value, key, BACKEND_KEYS)
    if "url" not in value:
        ctx.fail(key, 'missing required key "url" (for example url = "http://localhost:3000/")')
    url = ctx.string(value, (*key, "url"))
    assert url is not None
    scheme, host, port, path_prefix = _parse_url(ctx, (*key, "url"), url)

    timeouts = []
    for timeout_name in ("first_byte_timeout_ms", "between_bytes_timeout_ms"):
        timeout = ctx.integer(value, (*key, timeout_name))
        if timeout is not None and timeout < 0:
            ctx.fail((*key, timeout_name), f"must be 0 or more milliseconds, got {timeout}")
        timeouts.append(timeout)

    health = ctx.string(value, (*key, "health"))
    if health is None:
        health = "unknown"
    elif health not in HEALTH_VALUES:
        ctx.fail((*key, "health"), f"expected one of {', '.join(HEALTH_VALUES)}; got {health!r}")

    client_certificate = None
    if "client_certificate" in value:
        client_certificate = _client_certificate(ctx, key, value["client_certificate"])
    ca_certificates: tuple[str, ...] = ()
    if "ca_certificate" in value:
        ca_certificates = _ca_certificates(ctx, (*key, "ca_certificate"), value["ca_certificate"])

    override_host = ctx.string(value, (*key, "override_host"), nonempty=True)
    if override_host is not None and (problem := host_header_problem(override_host)):
        ctx.fail((*key, "override_host"), problem)
    return BackendConfig(
        name=name,
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        path_prefix=path_prefix,
        override_host=override_host,
        cert_host=ctx.string(value, (*key, "cert_host"), nonempty=True),
        use_sni=ctx.boolean(value, (*key, "use_sni"), True),
        grpc=ctx.boolean(value, (*key, "grpc"), False),
        client_certificate=client_certificate,
        ca_certificates=ca_certificates,
        first_byte_timeout_ms=timeouts[0],
        between_bytes_timeout_ms=timeouts[1],
        health=health,
    )


def _parse_url(ctx: Context, key: KeyPath, url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path_prefix)``; warns where Viceroy would ignore parts."""
    if not url.strip():
        ctx.fail(key, "must not be empty")
    if any(c.isspace() for c in url):
        ctx.fail(key, f"{url!r} contains whitespace")
    if problem := url_characters_problem(url):
        ctx.fail(key, problem)
    if "://" not in url:
        ctx.fail(key, f'{url!r} has no scheme; write "http://{url}" or "https://{url}"')
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        ctx.fail(key, f"{url!r} is not a valid URL: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        ctx.fail(key, f"{url!r} has scheme {parts.scheme!r}; only http and https are supported")
    host = parts.hostname
    if not host:
        ctx.fail(key, f"{url!r} has no host")
    if problem := url_host_problem(host):
        ctx.fail(key, f"{url!r} has an {problem}")
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        ctx.fail(key, f"{url!r} has an invalid port {port_text!r} (expected 1-65535)")
    if port == 0:
        ctx.fail(key, f"{url!r} has an invalid port 0 (expected 1-65535)")
    if parts.username is not None or parts.password is not None:
        ctx.warn(key, "credentials in the URL are ignored; send an Authorization header instead")
    if parts.query or parts.fragment:
        ctx.warn(key, "the query string and fragment of a backend URL are ignored")
    return scheme, host, port or _DEFAULT_PORTS[scheme], parts.path.rstrip("/")


def _client_certificate(ctx: Context, backend_key: KeyPath, value: Any) -> ClientCertificate:
    key: KeyPath = (*backend_key, "client_certificate")
    table = ctx.table(value, key)
    ctx.check_keys(table, key, CLIENT_CERTIFICATE_KEYS)
    certificate = _inline_or_file(ctx, key, table, "certificate", "certificate_file")
    private_key = _inline_or_file(ctx, key, table, "key", "key_file")
    return ClientCertificate(certificate=certificate, key=private_key)


def _inline_or_file(
    ctx: Context, key: KeyPath, table: dict[str, Any], inline: str, file: str
) -> str:
    """PEM text from exactly one of ``table[inline]`` (the text) or ``table[file]`` (a path)."""
    if inline in table and file in table:
        ctx.fail((*key, file), f'give either "{inline}" or "{file}", not both')
    if inline in table:
        text = ctx.string(table, (*key, inline))
        assert text is not None
        return _check_pem(ctx, (*key, inline), text, hint=file + ' = "{}"')
    if file in table:
        name = ctx.string(table, (*key, file))
        assert name is not None
        return _check_pem(ctx, (*key, file), ctx.read_text((*key, file), name))
    ctx.fail(key, f'missing "{inline}" (PEM text) or "{file}" (path to a PEM file)')


def _ca_certificates(ctx: Context, key: KeyPath, value: Any) -> tuple[str, ...]:
    """``ca_certificate``: PEM string, ``{file=...}``, ``{value=...}``, or an array of those."""
    if isinstance(value, list):
        return tuple(_ca_certificate(ctx, (*key, i), item) for i, item in enumerate(value))
    return (_ca_certificate(ctx, key, value),)


def _ca_certificate(ctx: Context, key: KeyPath, value: Any) -> str:
    if isinstance(value, str):
        return _check_pem(ctx, key, value, hint='{{ file = "{}" }}')
    if not isinstance(value, dict):
        ctx.fail(
            key,
            f"expected PEM text, {{ file = ... }}, {{ value = ... }} or an array of those, "
            f"got {describe(value)}",
        )
    ctx.check_keys(value, key, CA_CERTIFICATE_KEYS)
    if len(value) != 1:
        ctx.fail(key, 'expected exactly one of "file" or "value"')
    if "file" in value:
        name = ctx.string(value, (*key, "file"))
        assert name is not None
        return _check_pem(ctx, (*key, "file"), ctx.read_text((*key, "file"), name))
    text = ctx.string(value, (*key, "value"))
    assert text is not None
    return _check_pem(ctx, (*key, "value"), text)


def _check_pem(ctx: Context, key: KeyPath, text: str, hint: str = "") -> str:
    if "-----BEGIN " not in text:
        problem = "is not PEM text (no -----BEGIN line)"
        if hint and "\n" not in text.strip():
            problem += "; to read a file, write " + hint.format(text.strip())
        ctx.fail(key, problem)
    return text
