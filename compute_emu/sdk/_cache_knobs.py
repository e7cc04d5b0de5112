"""The readthrough cache knobs of ``Request`` and the ``CandidateResponse`` of ``set_after_send``.

Mirrors ``fastly::Request``'s cache override methods and ``fastly::http::CandidateResponse``.
``set_pass``, ``set_ttl``, ``set_stale_while_revalidate``, ``set_pci`` and
``set_surrogate_key`` are defined on ``Request`` itself (they record into
``_cache_override``); this mixin adds their builder twins, ``set_cache_key`` and the
before/after-send hooks, recorded in the same dict. ``Request`` hands that dict to the host
as a ``CacheOptions`` value (the hooks wrapped to take and give values).

Differences from Rust: durations are seconds (``float``) or ``datetime.timedelta``; the hooks
are plain callables that may raise (``SendError`` fails the ``send()``); they run on a thread
of their own with the request's host bound, so they may call the SDK.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Self

from ._headers import HeaderMap
from ._interface import Candidate

if TYPE_CHECKING:
    from ._request import Request

Seconds = float | int | datetime.timedelta


def as_seconds(value: Seconds) -> float:
    """Seconds from a number or a ``timedelta`` (negative values are 0)."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a duration must be seconds or a timedelta, not {type(value).__name__}")
    return max(float(value), 0.0)


class CacheKnobs:
    """Builder twins and hooks of the cache override knobs (a base class of ``Request``)."""

    _cache_override: dict[str, Any]

    def set_pass(self, pass_: bool = True) -> None:  # pragma: no cover - Request defines it
        raise NotImplementedError

    def set_ttl(self, ttl: int) -> None:  # pragma: no cover - Request defines it
        raise NotImplementedError

    def set_stale_while_revalidate(self, swr: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def set_pci(self, pci: bool) -> None:  # pragma: no cover - Request defines it
        raise NotImplementedError

    def set_surrogate_key(self, key: str) -> None:  # pragma: no cover - Request defines it
        raise NotImplementedError

    def with_pass(self, pass_: bool = True) -> Self:
        """Builder form of ``set_pass``: never look up or store this request's response."""
        self.set_pass(pass_)
        return self

    def with_ttl(self, ttl: int) -> Self:
        """Builder form of ``set_ttl``: cache the response for ``ttl`` seconds."""
        self.set_ttl(ttl)
        return self

    def with_stale_while_revalidate(self, swr: int) -> Self:
        """Builder form of ``set_stale_while_revalidate``."""
        self.set_stale_while_revalidate(swr)
        return self

    def with_pci(self, pci: bool) -> Self:
        """Builder form of ``set_pci``."""
        self.set_pci(pci)
        return self

    def with_surrogate_key(self, key: str) -> Self:
        """Builder form of ``set_surrogate_key`` (space-separated keys)."""
        self.set_surrogate_key(key)
        return self

    def set_cache_key(self, key: bytes | str) -> None:
        """Use ``key`` instead of the URL and Host to look this request up in the cache."""
        self._cache_override["cache_key"] = key.encode() if isinstance(key, str) else bytes(key)

    def with_cache_key(self, key: bytes | str) -> Self:
        """Builder form of :meth:`set_cache_key`."""
        self.set_cache_key(key)
        return self

    def set_before_send(self, hook: Callable[[Request], object]) -> None:
        """Call ``hook(request)`` just before the request goes to the backend (a miss or a
        pass, never a hit); it may change the request or raise ``SendError``."""
        self._cache_override["before_send"] = hook

    def with_before_send(self, hook: Callable[[Request], object]) -> Self:
        """Builder form of :meth:`set_before_send`."""
        self.set_before_send(hook)
        return self

    def set_after_send(self, hook: Callable[[CandidateResponse], object]) -> None:
        """Call ``hook(candidate)`` on a backend response that may be cached, before it is
        stored: it can change the TTL, cacheability, surrogate keys and the response."""
        self._cache_override["after_send"] = hook

    def with_after_send(self, hook: Callable[[CandidateResponse], object]) -> Self:
        """Builder form of :meth:`set_after_send`."""
        self.set_after_send(hook)
        return self

    def is_cacheable(self) -> bool:
        """Whether the response to this request may come from, or go into, the cache."""
        return self.get_method() in ("GET", "HEAD") and not self._cache_override.get("pass")

    def get_method(self) -> str:  # pragma: no cover - Request defines it
        raise NotImplementedError


class CandidateResponse:
    """A backend response before it is stored (``set_after_send``). Changes to its status
    and headers are what the app's ``send()`` returns and what the cache keeps."""

    def __init__(
        self,
        status: int,
        headers: Iterable[tuple[str, bytes]],
        *,
        cacheable: bool,
        ttl: float,
        age: float,
        stale_while_revalidate: float,
        surrogate_keys: Iterable[str],
        vary: Iterable[str],
        pci: bool,
        record_uncacheable: bool = False,
    ) -> None:
        self._status = status
        self._headers = HeaderMap(list(headers))
        self._cacheable = cacheable
        self._ttl = ttl
        self._age = age
        self._swr = stale_while_revalidate
        self._surrogate_keys = list(surrogate_keys)
        self._vary = list(vary)
        self._pci = pci
        self._record_uncacheable = record_uncacheable

    @classmethod
    def _from_value(cls, value: Candidate) -> CandidateResponse:
        """The candidate the host describes (for the app's ``set_after_send`` hook)."""
        return cls(
            value.status,
            value.headers,
            cacheable=value.cacheable,
            ttl=value.ttl,
            age=value.age,
            stale_while_revalidate=value.stale_while_revalidate,
            surrogate_keys=value.surrogate_keys,
            vary=value.vary,
            pci=value.pci,
            record_uncacheable=value.record_uncacheable,
        )

    def _value(self) -> Candidate:
        """What the hook left, as a value for the host."""
        return Candidate(
            status=self._status,
            headers=tuple(self._headers.items()),
            cacheable=self._cacheable,
            ttl=self._ttl,
            age=self._age,
            stale_while_revalidate=self._swr,
            surrogate_keys=tuple(self._surrogate_keys),
            vary=tuple(self._vary),
            pci=self._pci,
            record_uncacheable=self._record_uncacheable,
        )

    # -- status and headers ----------------------------------------------------------------
    def get_status(self) -> int:
        return self._status

    def set_status(self, status: int) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status {status!r}")
        self._status = status

    def get_header(self, name: str) -> str | None:
        value = self._headers.get(name)
        return None if value is None else value.decode("utf-8", errors="replace")

    def get_header_str(self, name: str) -> str | None:
        value = self._headers.get(name)
        return None if value is None else value.decode("utf-8")

    def contains_header(self, name: str) -> bool:
        return self._headers.get(name) is not None

    def set_header(self, name: str, value: str | bytes) -> None:
        self._headers.set(name, value)

    def append_header(self, name: str, value: str | bytes) -> None:
        self._headers.append(name, value)

    def remove_header(self, name: str) -> str | None:
        value = self.get_header(name)
        self._headers.remove(name)
        return value

    # -- caching ---------------------------------------------------------------------------
    def is_cacheable(self) -> bool:
        """Whether the response will be stored."""
        return self._cacheable

    def set_cacheable(self) -> None:
        """Store the response even if its headers say not to."""
        self._cacheable = True

    def set_uncacheable(self, record_uncacheable: bool = False) -> None:
        """Do not store the response. ``record_uncacheable``: also record that its key's
        responses are uncacheable (hit-for-pass), so later lookups of the key go straight to
        the backend for the response's TTL instead of waiting for one fetch."""
        self._cacheable = False
        self._record_uncacheable = bool(record_uncacheable)

    def get_ttl(self) -> float:
        """Seconds it will be fresh for (after its ``Age``)."""
        return self._ttl

    def set_ttl(self, ttl: Seconds) -> None:
        self._ttl = as_seconds(ttl)

    def age(self) -> float:
        """Its age when it arrived (the ``Age`` header), in seconds."""
        return self._age

    def get_stale_while_revalidate(self) -> float:
        return self._swr

    def set_stale_while_revalidate(self, swr: Seconds) -> None:
        self._swr = as_seconds(swr)

    def get_surrogate_keys(self) -> list[str]:
        return list(self._surrogate_keys)

    def set_surrogate_keys(self, keys: str | Iterable[str]) -> None:
        """Replace the surrogate keys (a space-separated string or a list)."""
        self._surrogate_keys = keys.split() if isinstance(keys, str) else [str(k) for k in keys]

    def get_vary(self) -> list[str]:
        return list(self._vary)

    def set_vary(self, names: Iterable[str]) -> None:
        """The request headers that pick the variant (instead of the ``Vary`` header)."""
        self._vary = sorted({n.strip().lower() for n in names if n.strip()})

    def get_pci(self) -> bool:
        return self._pci

    def set_pci(self, pci: bool) -> None:
        self._pci = bool(pci)

    def __repr__(self) -> str:
        return f"<CandidateResponse {self._status} cacheable={self._cacheable} ttl={self._ttl}>"
