"""Exceptions that mirror Rust error enums: one subclass per variant, reachable as an attribute.

``KVStoreError.ItemNotFound`` is a subclass of ``KVStoreError`` whose ``kind`` is
``"ItemNotFound"``, so ``except KVStoreError.ItemNotFound:`` matches one variant and
``except KVStoreError:`` all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from ._host import current_host

if TYPE_CHECKING:
    from compute_emu.platform import Platform


class VariantError(Exception):
    """Base of the mirrored error enums; ``kind`` is the Rust variant name."""

    kind: ClassVar[str] = ""

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({str(self)!r})"


def add_variants(base: type[VariantError], variants: dict[str, str]) -> None:
    """Attach one subclass per ``{variant name: description}`` to ``base``."""
    for name, doc in variants.items():
        sub = type(
            name,
            (base,),
            {
                "kind": name,
                "__doc__": doc,
                "__module__": base.__module__,
                "__qualname__": f"{base.__qualname__}.{name}",
            },
        )
        setattr(base, name, sub)


def platform(what: str) -> Platform:
    """The running request's platform (a clear ``RuntimeError`` outside a request)."""
    return current_host(what).platform


def known(names: Iterable[str]) -> str:
    """``"a, b"`` or ``"none"`` for messages listing what exists."""
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"
