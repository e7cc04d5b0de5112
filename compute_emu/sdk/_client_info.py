"""What ``Request`` knows about the client connection: TLS, fingerprints, original headers, bot
detection (mirrors the client getters of ``fastly::Request``), with Viceroy's local values.

Locally there is no TLS, no HTTP/2 and no DDoS or bot analysis: the TLS getters, JA3/JA4 and
the h2/oh fingerprints are ``None``, ``get_client_ddos_detected()`` is ``False``. The bot getters
read the client's ``X-Fastly-Bot-*`` headers as Viceroy does (``-Analyzed``/``-Detected``/
``-Verified: true``, ``-Name``, ``-Category``), so a test can pose as a detected bot.
``fastly_key_is_valid()`` is True when the request's ``Fastly-Key`` header is one of
``[local_server] fake_valid_fastly_keys``. For a request the app made (not ``from_client()``),
every getter answers ``None`` (``False`` for the booleans).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum

from ._headers import HeaderMap
from ._variants import host

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BotCategory(Enum):
    """Categories of detected bots (Rust ``http::request::BotCategory``)."""

    None_ = 0
    Suspected = 1
    Accessibility = 2
    AiCrawler = 3
    AiFetcher = 4
    ContentFetcher = 5
    MonitoringSiteTools = 6
    OnlineMarketing = 7
    PagePreview = 8
    PlatformIntegration = 9
    Research = 10
    SearchEngineCrawler = 11
    SearchEngineOptimization = 12
    SecurityTools = 13
    Headless = 14


_CATEGORY_NAMES = {
    "none": 0,
    "suspected": 1,
    "accessibility": 2,
    "ai-crawler": 3,
    "ai-fetcher": 4,
    "content-fetcher": 5,
    "monitoring-site-tools": 6,
    "online-marketing": 7,
    "page-preview": 8,
    "platform-integration": 9,
    "research": 10,
    "search-engine-crawler": 11,
    "search-engine-optimization": 12,
    "security-tools": 13,
    "headless": 14,
}


class ClientCertVerifyResult(Enum):
    """The result of verifying a client certificate (never available locally: no TLS)."""

    Ok = 0
    BadCertificate = 1
    CertificateRevoked = 2
    CertificateExpired = 3
    UnknownCa = 4
    CertificateMissing = 5
    CertificateUnknown = 6


@dataclass(frozen=True)
class ClientMeta:
    """The client connection as it arrived (kept by ``from_client()``)."""

    headers: list[tuple[str, bytes]]  # as received, in order
    server_ip: IpAddress | None


class ClientInfo:
    """The client getters; ``Request`` sets ``_client_meta`` in ``from_client()``."""

    _client_meta: ClientMeta | None
    _headers: HeaderMap

    def _original(self, name: str) -> str | None:
        if self._client_meta is None:
            return None
        value = HeaderMap(self._client_meta.headers).get(name)
        return None if value is None else value.decode("utf-8", "replace")

    # -- connection --------------------------------------------------------------------
    def get_server_ip_addr(self) -> IpAddress | None:
        """The local address the client connected to (client request only)."""
        return None if self._client_meta is None else self._client_meta.server_ip

    def get_original_header_names(self) -> list[str] | None:
        """Header names as the client sent them (lowercased, as Viceroy reports), in order."""
        if self._client_meta is None:
            return None
        return [name.lower() for name, _ in self._client_meta.headers]

    def get_original_header_count(self) -> int | None:
        """How many header lines the client sent."""
        return None if self._client_meta is None else len(self._client_meta.headers)

    def get_client_ddos_detected(self) -> bool | None:
        """Whether the client is part of a DDoS attack (never, locally)."""
        return None if self._client_meta is None else False

    def get_client_h2_fingerprint(self) -> str | None:
        """The HTTP/2 fingerprint (``None``: compute-emu speaks HTTP/1.1)."""
        return None

    def get_client_oh_fingerprint(self) -> str | None:
        """The original-headers fingerprint (``None`` locally, as in Viceroy)."""
        return None

    # -- TLS (none locally) ------------------------------------------------------------
    def get_tls_cipher_openssl_name(self) -> str | None:
        """The TLS cipher (``None``: no TLS locally)."""
        return None

    def get_tls_cipher_openssl_name_bytes(self) -> bytes | None:
        """The TLS cipher as bytes (``None``)."""
        return None

    def get_tls_protocol(self) -> str | None:
        """The TLS protocol version (``None``)."""
        return None

    def get_tls_protocol_bytes(self) -> bytes | None:
        """The TLS protocol version as bytes (``None``)."""
        return None

    def get_tls_client_hello(self) -> bytes | None:
        """The raw ClientHello (``None``)."""
        return None

    def get_tls_client_servername(self) -> str | None:
        """The SNI name the client sent (``None``)."""
        return None

    def get_tls_ja3_md5(self) -> bytes | None:
        """The JA3 hash, 16 bytes (``None``)."""
        return None

    def get_tls_ja4(self) -> str | None:
        """The JA4 fingerprint (``None``)."""
        return None

    def get_tls_raw_client_certificate(self) -> str | None:
        """The client certificate, PEM (``None``)."""
        return None

    def get_tls_raw_client_certificate_bytes(self) -> bytes | None:
        """The client certificate as bytes (``None``)."""
        return None

    def get_tls_client_cert_verify_result(self) -> ClientCertVerifyResult | None:
        """How the client certificate verified (``None``)."""
        return None

    # -- bot detection (from X-Fastly-Bot-* headers, as Viceroy) ---------------------------
    def get_bot_analyzed(self) -> bool:
        """Whether bot detection ran (``X-Fastly-Bot-Analyzed: true``)."""
        return self._original("x-fastly-bot-analyzed") == "true"

    def get_bot_detected(self) -> bool:
        """Whether a bot was detected (``X-Fastly-Bot-Detected: true``)."""
        return self._original("x-fastly-bot-detected") == "true"

    def get_bot_name(self) -> str | None:
        """The detected bot's name (``X-Fastly-Bot-Name``)."""
        return self._original("x-fastly-bot-name")

    def get_bot_category(self) -> str | None:
        """The detected bot's category as text (``X-Fastly-Bot-Category``)."""
        return self._original("x-fastly-bot-category")

    def get_bot_category_kind(self) -> BotCategory | None:
        """The category as a :class:`BotCategory` (its name, or its number)."""
        text = self.get_bot_category()
        if text is None:
            return None
        number = _CATEGORY_NAMES.get(text.lower())
        if number is None:
            try:
                number = int(text)
            except ValueError:
                return None
        try:
            return BotCategory(number)
        except ValueError:
            return None

    def get_bot_verified(self) -> bool | None:
        """Whether the bot is verified (``X-Fastly-Bot-Verified``); ``None`` without it."""
        value = self._original("x-fastly-bot-verified")
        return None if value is None else value == "true"

    # -- Fastly keys -------------------------------------------------------------------
    def fastly_key_is_valid(self) -> bool:
        """Whether ``Fastly-Key`` is one of ``[local_server] fake_valid_fastly_keys``."""
        value = self._headers.get("fastly-key")
        if value is None:
            return False
        key = value.decode("utf-8", "replace")
        return host("Request.fastly_key_is_valid()").fastly_key_is_valid(key)
