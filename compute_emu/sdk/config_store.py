"""Config stores: mirrors ``fastly::config_store`` (``ConfigStore``, its ``OpenError``, ...).

::

    from compute_emu.sdk import ConfigStore

    animals = ConfigStore.open("animals")
    sound = animals.get("dog")  # "woof", or None

Deliberate differences from Rust:

- ``ConfigStore.open(name)`` panics in Rust; here it raises the same ``OpenError`` as
  ``try_open`` (``OpenError.ConfigStoreDoesNotExist`` for an unknown store, its message naming
  the store and listing the known ones), so both can be caught.
- ``Result`` errors are raised: ``try_open`` raises ``OpenError``, ``try_get`` raises
  ``LookupError`` (exported from ``compute_emu.sdk`` as ``ConfigStoreOpenError`` and
  ``ConfigStoreLookupError``; ``ConfigStoreError`` is their common base). Variants are
  subclasses: ``except OpenError.ConfigStoreDoesNotExist:``.
- ``get`` (which panics in Rust on a lookup error, e.g. a key over 256 characters) raises
  ``LookupError`` too.
- A JSON store's file is read again on every open (as Viceroy does); if it has become invalid,
  ``open`` raises ``OpenError`` (kind ``Unexpected``) naming the file.
- ``Dictionary`` is the deprecated alias; opening one emits a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

from ._interface import Handle, HostError
from ._names import CONFIG_KEY_MAX_CHARS as KEY_MAX_CHARS
from ._names import CONFIG_NAME_MAX_CHARS as NAME_MAX_LEN
from ._variants import VariantError, add_variants, host, missing, variant_of


class ConfigStoreError(VariantError):
    """Base of ``OpenError`` and ``LookupError``."""


class OpenError(ConfigStoreError):
    """A config store could not be opened (Rust ``config_store::OpenError``)."""

    ConfigStoreDoesNotExist: ClassVar[type[OpenError]]
    NameEmpty: ClassVar[type[OpenError]]
    NameTooLong: ClassVar[type[OpenError]]
    NameInvalid: ClassVar[type[OpenError]]
    Unexpected: ClassVar[type[OpenError]]


class LookupError(ConfigStoreError):
    """A lookup failed (Rust ``config_store::LookupError``)."""

    KeyInvalid: ClassVar[type[LookupError]]
    KeyTooLong: ClassVar[type[LookupError]]


add_variants(
    OpenError,
    {
        "ConfigStoreDoesNotExist": "No config store with this name was found.",
        "NameEmpty": "A config store name was empty.",
        "NameTooLong": "A config store name was too long.",
        "NameInvalid": "A config store name was invalid.",
        "Unexpected": "The store's file could not be read (compute-emu addition).",
    },
)
add_variants(
    LookupError,
    {
        "KeyInvalid": "The config store key provided was invalid.",
        "KeyTooLong": "The config store key provided was too long.",
    },
)


_OPEN_KINDS = {"invalid_argument": "NameInvalid", "too_long": "NameTooLong"}
_LOOKUP_KINDS = {"too_long": "KeyTooLong"}


class ConfigStore:
    """An open config store: a read-only string-to-string map."""

    _what = "ConfigStore"

    def __init__(self, name: str, handle: Handle) -> None:
        self._name = name
        self._handle = handle

    @classmethod
    def open(cls, name: str) -> ConfigStore:
        """Open a config store by name; raises ``OpenError`` (Rust panics)."""
        return cls._open(name, f"{cls._what}.open()")

    @classmethod
    def try_open(cls, name: str) -> ConfigStore:
        """Open a config store by name; raises ``OpenError``."""
        return cls._open(name, f"{cls._what}.try_open()")

    @classmethod
    def _open(cls, name: str, what: str) -> ConfigStore:
        runtime = host(what)
        if not name:
            raise OpenError.NameEmpty("config store name is empty")
        if len(name) > NAME_MAX_LEN:
            raise OpenError.NameTooLong(f"config store name is over {NAME_MAX_LEN} characters")
        try:
            handle = runtime.config_store_open(name)
        except HostError as exc:  # e.g. its JSON file has become invalid
            variant: type[OpenError] = getattr(OpenError, _OPEN_KINDS.get(exc.kind, "Unexpected"))
            raise variant(f'cannot open config store "{name}": {exc}') from None
        if handle is None:
            raise OpenError.ConfigStoreDoesNotExist(
                missing(runtime, "config", "config store", name, "config_stores")
            )
        return cls(name, handle)

    def get(self, key: str) -> str | None:
        """The value for ``key``, or ``None``; raises ``LookupError`` for an invalid key."""
        return self.try_get(key)

    def try_get(self, key: str) -> str | None:
        """The value for ``key``, or ``None``; raises ``LookupError``."""
        if not isinstance(key, str) or not key:
            raise LookupError.KeyInvalid("config store keys are non-empty strings")
        if len(key) > KEY_MAX_CHARS:
            raise LookupError.KeyTooLong(
                f"config store keys are at most {KEY_MAX_CHARS} characters, got {len(key)}"
            )
        try:
            return host(f"{type(self).__name__}.get()").config_store_get(self._handle, key)
        except HostError as exc:
            raise variant_of(LookupError, _LOOKUP_KINDS, exc, "KeyInvalid") from None

    def contains(self, key: str) -> bool:
        """Whether ``key`` has a value."""
        return self.try_get(key) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r})"


class Dictionary(ConfigStore):
    """Deprecated alias of :class:`ConfigStore` (Rust ``fastly::Dictionary``)."""

    _what = "Dictionary"

    @classmethod
    def _open(cls, name: str, what: str) -> ConfigStore:
        warnings.warn("Dictionary is deprecated; use ConfigStore", DeprecationWarning, stacklevel=3)
        return super()._open(name, what)
