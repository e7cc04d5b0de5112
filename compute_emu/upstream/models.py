"""The plain values the upstream client takes: where to connect and what to send."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from ..rules.backend import Destination


@dataclass(frozen=True, slots=True)
class Origin:
    """Where to connect. Connections are pooled per Origin (the TLS context by identity;
    ``connect_timeout`` is not part of the key)."""

    host: str
    port: int
    tls: bool = False
    server_hostname: str | None = None  # TLS name to verify and send as SNI (default: host)
    ssl_context: ssl.SSLContext | None = None  # for tls; None: a default verifying context
    connect_timeout: float | None = field(default=None, compare=False)

    @classmethod
    def of(cls, destination: Destination, ssl_context: ssl.SSLContext | None = None) -> Origin:
        """The Origin for a destination chosen by :mod:`compute_emu.rules`."""
        return cls(
            destination.host,
            destination.port,
            destination.tls,
            destination.server_hostname,
            ssl_context if destination.tls else None,
            destination.connect_timeout,
        )

    @property
    def label(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


@dataclass(slots=True)
class UpstreamRequest:
    """What to send: the head, and the body as bytes (replayable) or chunks (streamed).

    ``headers`` must carry the framing the body needs (Content-Length or chunked); the client
    sends exactly these headers. ``head_timeout`` bounds each wait for response-head bytes.
    """

    method: str
    target: str
    headers: list[tuple[str, bytes]]
    body: bytes | AsyncIterable[bytes] = b""
    head_timeout: float | None = None
