"""Exceptions that mirror Rust error enums: one subclass per variant, reachable as an attribute.

``KVStoreError.ItemNotFound`` is a subclass of ``KVStoreError`` whose ``kind`` is
``"ItemNotFound"``, so ``except KVStoreError.ItemNotFound:`` matches one variant and
``except KVStoreError:`` all of them. A ``HostError`` of the host interface becomes the
variant its ``kind`` stands for (:func:`variant_of`), with the host's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar, TypeVar

from ._host import current_host
from ._interface import Host, HostError, StoreKind

V = TypeVar("V", bound="VariantError")


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


def host(what: str) -> Host:
    """The running request's host (a clear ``RuntimeError`` naming ``what`` outside one)."""
    return current_host(what)


def variant_of(
    base: type[V], kinds: Mapping[str, str], error: HostError, default: str = "Unexpected"
) -> V:
    """The ``base`` variant a host error stands for (``kinds``: host error kind to variant
    name; other kinds give ``default``), with the host's message."""
    variant: type[V] = getattr(base, kinds.get(error.kind, default))
    return variant(str(error))


def known(names: Iterable[str]) -> str:
    """``"a, b"`` or ``"none"`` for messages listing what exists."""
    listed = sorted(names)
    return ", ".join(listed) if listed else "none"


def missing(host: Host, kind: StoreKind, what: str, name: str, section: str) -> str:
    """The message of an open that found nothing: ``'<what> "<name>" does not exist'``, with
    the known ones and where to define one when the host can list them."""
    names = host.store_names(kind)
    if names is None:
        return f'{what} "{name}" does not exist'
    return (
        f'{what} "{name}" does not exist (known {what}s: {known(names)}; '
        f"define it under [local_server.{section}] in fastly.toml)"
    )
