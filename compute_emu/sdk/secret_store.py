"""Secret stores: mirrors ``fastly::secret_store`` (``SecretStore``, ``Secret``, errors).

::

    from compute_emu.sdk import SecretStore

    token = SecretStore.open("credentials").get("api-token").plaintext()

Deliberate differences from Rust:

- ``Result`` errors are raised: ``open`` raises ``OpenError`` (exported as
  ``SecretStoreOpenError``; variants ``SecretStoreDoesNotExist``, ``InvalidSecretStoreName``),
  ``try_get`` raises ``LookupError`` (``SecretStoreLookupError``; variant
  ``InvalidSecretName``). ``get`` and ``contains`` raise the same where Rust panics or returns
  ``Err``. ``SecretStoreError`` is their common base.
- ``Secret.plaintext()`` returns ``bytes``; ``Secret.from_bytes(b)`` makes a secret from bytes.
- A ``Secret`` never shows its value: ``str()`` and ``repr()`` give ``Secret(<redacted>)``, it
  cannot be pickled, and no error message contains a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NoReturn

from compute_emu.platform.secret_store import name_problem

from ._variants import VariantError, add_variants, known, platform

if TYPE_CHECKING:
    from compute_emu.platform import SecretStore as _Store


class SecretStoreError(VariantError):
    """Base of ``OpenError`` and ``LookupError``."""


class OpenError(SecretStoreError):
    """A secret store could not be opened (Rust ``secret_store::OpenError``)."""

    SecretStoreDoesNotExist: ClassVar[type[OpenError]]
    InvalidSecretStoreName: ClassVar[type[OpenError]]


class LookupError(SecretStoreError):
    """A secret lookup failed (Rust ``secret_store::LookupError``)."""

    InvalidSecretName: ClassVar[type[LookupError]]


add_variants(
    OpenError,
    {
        "SecretStoreDoesNotExist": "No secret store with this name exists.",
        "InvalidSecretStoreName": "The secret store name is invalid.",
    },
)
add_variants(LookupError, {"InvalidSecretName": "The secret name is invalid."})


class Secret:
    """A secret's plaintext. Its value never appears in ``str``/``repr``."""

    __slots__ = ("_name", "_plaintext")

    def __init__(self, plaintext: bytes, name: str | None = None) -> None:
        self._plaintext = bytes(plaintext)
        self._name = name

    @classmethod
    def from_bytes(cls, plaintext: bytes | bytearray) -> Secret:
        """A secret holding ``plaintext`` (Rust ``Secret::from_bytes``)."""
        return cls(bytes(plaintext))

    def plaintext(self) -> bytes:
        """The decrypted value."""
        return self._plaintext

    def name(self) -> str | None:
        """The secret's name in its store (``None`` for ``from_bytes``); compute-emu addition."""
        return self._name

    def __repr__(self) -> str:
        named = f"{self._name!r}, " if self._name else ""
        return f"Secret({named}<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


class SecretStore:
    """An open secret store."""

    def __init__(self, name: str, store: _Store) -> None:
        self._name = name
        self._store = store

    @classmethod
    def open(cls, name: str) -> SecretStore:
        """Open a secret store by name; raises ``OpenError``."""
        stores = platform("SecretStore.open()").secret_stores
        problem = name_problem(name) if isinstance(name, str) else "names are strings"
        if problem:
            raise OpenError.InvalidSecretStoreName(f"invalid secret store name: {problem}")
        store = stores.get(name)
        if store is None:
            raise OpenError.SecretStoreDoesNotExist(
                f'secret store "{name}" does not exist (known secret stores: {known(stores)}; '
                "define it under [local_server.secret_stores] in fastly.toml)"
            )
        return cls(name, store)

    def get(self, name: str) -> Secret | None:
        """The secret named ``name``, or ``None``; raises ``LookupError`` for a bad name."""
        return self.try_get(name)

    def try_get(self, name: str) -> Secret | None:
        """The secret named ``name``, or ``None``; raises ``LookupError``."""
        self._check(name)
        plaintext = self._store.get(name)
        return None if plaintext is None else Secret(plaintext, name)

    def contains(self, name: str) -> bool:
        """Whether the store has a secret named ``name``."""
        self._check(name)
        return name in self._store

    def _check(self, name: str) -> None:
        problem = name_problem(name) if isinstance(name, str) else "names are strings"
        if problem:
            raise LookupError.InvalidSecretName(f"invalid secret name: {problem}")

    def __repr__(self) -> str:
        return f"SecretStore({self._name!r})"
