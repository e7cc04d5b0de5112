"""KV stores: Viceroy's in-memory semantics, optionally persisted to a directory.

Operations follow Viceroy's ``ObjectStores``: ``insert`` with the modes overwrite/add/append/
prepend, ``if_generation_match`` (a mismatch on an existing key fails; on a missing key the insert
goes ahead, as in Viceroy), a time to live (expired entries vanish on the next access), ``delete``
(``False`` for a missing key) and ``list`` over sorted keys with an opaque cursor (the base64 of
the last key returned, as Viceroy's) and a default limit of 1000. Generations are nanosecond
timestamps forced to increase strictly on every write to a store.

Persistence (``persist_dir``): each store keeps one JSON record per key that was written or
deleted since the directory was created (``<dir>/<store>/<sha256(key)>.json``: key, body in
base64, metadata, generation, expiry; a deletion is kept as a tombstone), written to a temporary
file and moved into place with ``os.replace``, so a crash leaves the old or the new record. On
start the store is seeded from fastly.toml and the records are applied on top: **for every key
written or deleted at run time the persisted state wins; keys never touched follow fastly.toml**.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from compute_emu.manifest.files import read_file

InsertMode = Literal["overwrite", "add", "append", "prepend"]
INSERT_MODES: tuple[InsertMode, ...] = ("overwrite", "add", "append", "prepend")
DEFAULT_LIST_LIMIT = 1000
# what reading back a damaged or foreign persisted record can raise
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, RecursionError, binascii.Error)
_FORBIDDEN = ("\r", "\n", "#", ";", "?", "^", "|")


class KVError(Exception):
    """A KV operation failed; ``kind`` is ``invalid_key``, ``precondition_failed`` or
    ``bad_request``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def key_problem(key: str) -> str | None:
    """Why ``key`` is not a valid KV key (Viceroy's rules), or ``None``."""
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "keys must be valid Unicode text"
    if size < 1:
        return "keys cannot be empty"
    if size > 1024:
        return f"keys are at most 1024 bytes in UTF-8, this one is {size}"
    if key.startswith(".well-known/acme-challenge"):
        return "keys cannot start with .well-known/acme-challenge/"
    if key in (".", "..") or "../" in key or "./" in key or key.endswith(("/..", "/.")):
        return 'keys cannot be "." or ".." or contain "./" or "../"'
    for char in _FORBIDDEN:
        if char in key:
            return f"keys cannot contain {char!r}"
    if len(key) == 1 and (ord(key) <= 0x20 or key in ("\ufffe", "\uffff")):
        return f"{key!r} cannot be a key on its own"
    return None


@dataclass(frozen=True)
class KVEntry:
    """One stored value."""

    body: bytes
    metadata: str | None
    generation: int
    expires_at: float | None = None  # time.time() seconds

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def __repr__(self) -> str:
        return (
            f"KVEntry({len(self.body)} bytes, metadata={self.metadata!r}, "
            f"generation={self.generation})"
        )


class KVStore:
    """One KV store. Thread-safe: every operation holds the store's lock."""

    def __init__(
        self,
        name: str,
        seed: Iterable[tuple[str, bytes, str | None]] = (),
        persist_dir: Path | None = None,
    ) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._entries: dict[str, KVEntry] = {}
        self._last_generation = 0
        self.warnings: list[str] = []
        for key, body, metadata in seed:
            self._entries[key] = KVEntry(body, metadata, self._next_generation())
        self._dir: Path | None = None
        if persist_dir is not None:
            self._dir = Path(persist_dir) / quote(name, safe="-_.")
            self._dir.mkdir(parents=True, exist_ok=True)
            self._load()

    def __repr__(self) -> str:
        where = f", persisted in {str(self._dir)!r}" if self._dir else ""
        return f"KVStore({self.name!r}, {len(self._entries)} keys{where})"

    # -- operations ---------------------------------------------------------------------------

    def lookup(self, key: str) -> KVEntry | None:
        """The entry for ``key``, or ``None`` (missing or expired)."""
        _check_key(key)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expired(time.time()):
                self._remove(key)
                return None
            return entry

    def insert(
        self,
        key: str,
        value: bytes,
        *,
        metadata: str | None = None,
        mode: InsertMode = "overwrite",
        if_generation_match: int | None = None,
        ttl: float | None = None,
    ) -> int:
        """Write ``value`` under ``key``; returns the new generation. Raises ``KVError``."""
        _check_key(key)
        if mode not in INSERT_MODES:
            raise KVError("bad_request", f"unknown insert mode {mode!r}")
        if ttl is not None and ttl <= 0:
            raise KVError("bad_request", "the time to live must be positive")
        with self._lock:
            now = time.time()
            existing = self._entries.get(key)
            if existing is not None and existing.expired(now):
                existing = None
            if (
                if_generation_match is not None
                and existing is not None
                and existing.generation != if_generation_match
            ):
                raise KVError(
                    "precondition_failed",
                    f"generation {if_generation_match} does not match the current "
                    f"{existing.generation} of {key!r}",
                )
            body = bytes(value)
            if mode == "add" and existing is not None:
                raise KVError("precondition_failed", f"{key!r} already exists (mode add)")
            if mode == "append" and existing is not None:
                body = existing.body + body
            elif mode == "prepend" and existing is not None:
                body = body + existing.body
            entry = KVEntry(
                body, metadata, self._next_generation(), None if ttl is None else now + ttl
            )
            self._entries[key] = entry
            self._persist(key, entry)
            return entry.generation

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``False`` if it was not there (or had expired)."""
        _check_key(key)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            self._remove(key)
            return not entry.expired(time.time())

    def list(
        self, prefix: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> tuple[builtins.list[str], str | None]:
        """Sorted keys after ``cursor`` starting with ``prefix``: ``(keys, next_cursor)``."""
        if limit is None:
            limit = DEFAULT_LIST_LIMIT
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise KVError(
                "bad_request", f"the list limit must be a positive integer, not {limit!r}"
            )
        after = _decode_cursor(cursor) if cursor is not None else None
        with self._lock:
            now = time.time()
            for key in [k for k, e in self._entries.items() if e.expired(now)]:
                self._remove(key)
            keys = sorted(
                k
                for k in self._entries
                if (after is None or k > after) and (prefix is None or k.startswith(prefix))
            )
        page = keys[:limit]
        next_cursor = _encode_cursor(page[-1]) if len(keys) > limit else None
        return page, next_cursor

    def keys(self) -> builtins.list[str]:
        """Every live key, sorted."""
        return self.list(limit=2**62)[0]

    # -- internals ----------------------------------------------------------------------------

    def _next_generation(self) -> int:
        self._last_generation = max(time.time_ns(), self._last_generation + 1)
        return self._last_generation

    def _remove(self, key: str) -> None:
        del self._entries[key]
        self._persist(key, None)

    def _record_path(self, key: str) -> Path:
        assert self._dir is not None
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._dir / f"{digest}.json"

    def _persist(self, key: str, entry: KVEntry | None) -> None:
        if self._dir is None:
            return
        record: dict[str, object] = {"key": key, "deleted": entry is None}
        if entry is not None:
            record.update(
                body=base64.b64encode(entry.body).decode("ascii"),
                metadata=entry.metadata,
                generation=entry.generation,
                expires_at=entry.expires_at,
            )
        else:
            record["generation"] = self._next_generation()
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self._dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self._record_path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self) -> None:
        assert self._dir is not None
        for path in sorted(self._dir.iterdir()):
            if path.name.startswith(".tmp-"):
                path.unlink(missing_ok=True)  # left by a crash mid-write
                continue
            if path.suffix != ".json":
                continue
            try:
                # our own records, values of any size: no cap, but never a FIFO or device
                record = json.loads(read_file(path, None).decode("utf-8"))
                key = record["key"]
                generation = int(record["generation"])
                self._last_generation = max(self._last_generation, generation)
                if record["deleted"]:
                    self._entries.pop(key, None)
                    continue
                metadata = record["metadata"]
                expires_at = record.get("expires_at")
                self._entries[key] = KVEntry(
                    base64.b64decode(record["body"], validate=True),
                    None if metadata is None else str(metadata),
                    generation,
                    None if expires_at is None else float(expires_at),
                )
            except _UNREADABLE as exc:
                self.warnings.append(
                    f'KV store "{self.name}": ignoring unreadable record "{path}": {exc}'
                )


def _check_key(key: str) -> None:
    if not isinstance(key, str):
        raise KVError("invalid_key", f"keys are strings, not {type(key).__name__}")
    problem = key_problem(key)
    if problem:
        raise KVError("invalid_key", f"invalid key {key[:60]!r}: {problem}")


def _encode_cursor(key: str) -> str:
    return base64.b64encode(key.encode("utf-8")).decode("ascii")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.b64decode(cursor, validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise KVError("bad_request", f"invalid list cursor {cursor[:60]!r}") from None
