"""TLS client contexts for backends."""

from __future__ import annotations

import ssl
from functools import cache


def make_ssl_context(
    ca_certificates: tuple[str, ...], use_sni: bool, client_cert: tuple[str, str] | None
) -> ssl.SSLContext:
    """A verifying TLS client context for one backend.

    ``client_cert`` is (certificate file, key file). With ``use_sni`` off no server name is
    sent, so the chain is verified but the name is not (Python cannot check one without SNI).
    """
    context = ssl.create_default_context()
    if ca_certificates:
        context.load_verify_locations(cadata="\n".join(ca_certificates))
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    if not use_sni:
        context.check_hostname = False
    return context


@cache
def default_context() -> ssl.SSLContext:
    """The system's verifying context, built once (for origins without their own)."""
    return ssl.create_default_context()
