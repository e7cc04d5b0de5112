"""ACLs: mirrors ``fastly::acl`` (``Acl``, ``LookupMatch``, ``MatchAction``, errors).

::

    from compute_emu.sdk import Acl, Request, Response

    req = Request.from_client()
    found = Acl.open("blocklist").try_lookup(req.get_client_ip_addr())
    if found is not None and found.is_block():
        Response.from_status(403).send_to_client()

Entries come from the ``[local_server.acls]`` JSON files; the longest matching prefix wins, the
last entry on a tie.

Deliberate differences from Rust:

- ``Result`` errors are raised: ``Acl.open`` raises ``OpenError`` (exported as
  ``AclOpenError``; variant ``AclNotFound``), ``try_lookup`` raises ``LookupError``
  (``AclLookupError``; ``InvalidArgument`` for something that is not an IP address,
  ``InvalidResponseBody`` when the matching entry's action is neither ALLOW nor BLOCK, which
  Viceroy accepts but the Rust SDK cannot decode).
- ``try_lookup`` accepts an ``ipaddress`` object or a string; ``lookup`` is an alias.
- ``LookupMatch.prefix()`` is the normalised ``"1.2.3.0/24"`` string.
"""

from __future__ import annotations

import ipaddress
from enum import Enum
from typing import ClassVar

from ._interface import Handle, HostError
from ._names import IPAddress, parse_ip
from ._variants import VariantError, add_variants, host, missing, variant_of


class AclError(VariantError):
    """Base of ``OpenError`` and ``LookupError``."""


class OpenError(AclError):
    """An ACL could not be opened (Rust ``acl::OpenError``)."""

    AclNotFound: ClassVar[type[OpenError]]


class LookupError(AclError):
    """A lookup failed (Rust ``acl::LookupError``)."""

    InvalidArgument: ClassVar[type[LookupError]]
    InvalidResponseBody: ClassVar[type[LookupError]]


add_variants(OpenError, {"AclNotFound": "No ACL exists with the given name."})
add_variants(
    LookupError,
    {
        "InvalidArgument": "An argument was incorrect or invalid.",
        "InvalidResponseBody": "The matching entry could not be decoded.",
    },
)


_LOOKUP_KINDS = {"invalid_argument": "InvalidArgument"}


class MatchAction(Enum):
    """What a matching prefix says to do."""

    Allow = "ALLOW"
    Block = "BLOCK"


class LookupMatch:
    """The matching entry of a lookup."""

    def __init__(self, prefix: str, action: MatchAction) -> None:
        self._prefix = prefix
        self._action = action

    def prefix(self) -> str:
        return self._prefix

    def action(self) -> MatchAction:
        return self._action

    def is_allow(self) -> bool:
        return self._action is MatchAction.Allow

    def is_block(self) -> bool:
        return self._action is MatchAction.Block

    def __repr__(self) -> str:
        return f"LookupMatch({self._prefix!r}, MatchAction.{self._action.name})"


class Acl:
    """An open ACL."""

    def __init__(self, name: str, handle: Handle) -> None:
        self._name = name
        self._handle = handle

    @classmethod
    def open(cls, name: str) -> Acl:
        """Open an ACL by name; raises ``OpenError.AclNotFound``."""
        runtime = host("Acl.open()")
        try:
            handle = runtime.acl_open(name)
        except HostError as exc:
            raise OpenError.AclNotFound(str(exc)) from None
        if handle is None:
            raise OpenError.AclNotFound(missing(runtime, "acl", "ACL", name, "acls"))
        return cls(name, handle)

    def try_lookup(self, ip: IPAddress | str) -> LookupMatch | None:
        """The longest matching entry for ``ip``, or ``None``."""
        if isinstance(ip, str):
            try:
                ip = parse_ip(ip)
            except ValueError as exc:
                raise LookupError.InvalidArgument(str(exc)) from None
        if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise LookupError.InvalidArgument(f"not an IP address: {type(ip).__name__}")
        try:
            found = host("Acl.lookup()").acl_lookup(self._handle, ip)
        except HostError as exc:
            raise variant_of(LookupError, _LOOKUP_KINDS, exc, "InvalidResponseBody") from None
        return None if found is None else LookupMatch(found.prefix, MatchAction(found.action))

    lookup = try_lookup

    def __repr__(self) -> str:
        return f"Acl({self._name!r})"
