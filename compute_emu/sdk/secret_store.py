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

from typing import ClassVar, NoReturn

from ._interface import Handle, HostError
from ._names import secret_name_problem as name_problem
from ._variants import VariantError, add_variants, host, missing


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

    def __init__(self, name: str, handle: Handle) -> None:
        self._name = name
        self._handle = handle

    @classmethod
    def open(cls, name: str) -> SecretStore:
        """Open a secret store by name; raises ``OpenError``."""
        runtime = host("SecretStore.open()")
        problem = name_problem(name) if isinstance(name, str) else "names are strings"
        if problem:
            raise OpenError.InvalidSecretStoreName(f"invalid secret store name: {problem}")
        try:
            handle = runtime.secret_store_open(name)
        except HostError as exc:
            raise OpenError.InvalidSecretStoreName(f"invalid secret store name: {exc}") from None
        if handle is None:
            raise OpenError.SecretStoreDoesNotExist(
                missing(runtime, "secret", "secret store", name, "secret_stores")
            )
        return cls(name, handle)

    def get(self, name: str) -> Secret | None:
        """The secret named ``name``, or ``None``; raises ``LookupError`` for a bad name."""
        return self.try_get(name)

    def try_get(self, name: str) -> Secret | None:
        """The secret named ``name``, or ``None``; raises ``LookupError``."""
        self._check(name)
        try:
            plaintext = host("SecretStore.get()").secret_store_get(self._handle, name)
        except HostError as exc:
            raise LookupError.InvalidSecretName(f"invalid secret name: {exc}") from None
        return None if plaintext is None else Secret(plaintext, name)

    def contains(self, name: str) -> bool:
        """Whether the store has a secret named ``name``."""
        return self.try_get(name) is not None

    def _check(self, name: str) -> None:
        problem = name_problem(name) if isinstance(name, str) else "names are strings"
        if problem:
            raise LookupError.InvalidSecretName(f"invalid secret name: {problem}")

    def __repr__(self) -> str:
        return f"SecretStore({self._name!r})"
