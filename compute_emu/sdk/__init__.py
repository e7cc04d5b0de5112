"""compute_emu.sdk: the API a Python Fastly Compute app uses, mirroring the Rust ``fastly`` crate.

An app calls ``Request.from_client()``, builds or forwards requests with ``Request.send(backend)``
or hands the connection off (``handoff_fanout``/``handoff_websocket``), and answers with
``Response.send_to_client()``. The SDK does no I/O itself: everything that touches the outside
world goes through the host the runtime binds around ``main()`` (see ``_host.py``).

Method names follow Rust. Deliberate differences:

- Header getters return ``str`` (UTF-8, invalid bytes replaced) instead of ``HeaderValue``;
  ``get_header_bytes`` gives the raw bytes. Names from ``get_header_names``/``get_headers`` are
  lowercased, as Rust's ``HeaderName`` is.
- Panics become Python exceptions: ``RuntimeError`` for programming errors (a second
  ``from_client()`` or ``send_to_client()``, SDK calls outside a running request),
  ``UnicodeDecodeError`` where Rust panics on non-UTF-8 (``get_header_str``, ``into_body_str``),
  ``ValueError`` for invalid names, values, URLs and statuses. ``Result`` errors such as
  ``SendError`` are raised, not returned.
- Enum member names are CamelCase as in Rust (``SendErrorCause.ConnectionRefused``).
- ``into_*`` methods cannot consume ``self``; they take the body, leaving an empty one.
- Versions are strings (``"HTTP/1.1"``), URLs are ``urllib.parse.SplitResult``, client IPs are
  ``ipaddress`` objects, statuses are ``int``.
- Stores and lookups (``ConfigStore``, ``KVStore``, ``SecretStore``, ``geo_lookup``,
  ``device_detection.lookup``, ``Acl``) live in public submodules named as in Rust
  (``compute_emu.sdk.kv_store``, ...), each documenting its own differences. Rust's per-module
  ``OpenError``/``LookupError`` are exported here with a prefix (``ConfigStoreOpenError``,
  ``SecretStoreLookupError``, ``AclOpenError``, ...); error enum variants are subclasses
  (``except KVStoreError.ItemNotFound:``).
- ``erl`` (rate counters, penalty boxes: real, in memory), ``compute_runtime`` (Viceroy's local
  values), ``log`` (``set_panic_endpoint``) are submodules too. docs/crate-coverage.md lists
  every crate item and its local status.
"""

from . import cache as cache
from . import compute_runtime as compute_runtime
from . import device_detection as device_detection
from . import erl as erl
from . import log as log
from . import purge as purge
from ._backend import Backend as Backend
from ._backend import BackendBuilder as BackendBuilder
from ._backend import BackendCreationError as BackendCreationError
from ._backend import BackendError as BackendError
from ._backend import BackendHealth as BackendHealth
from ._backend import SslVersion as SslVersion
from ._body import Body as Body
from ._cache_knobs import CandidateResponse as CandidateResponse
from ._client_info import BotCategory as BotCategory
from ._client_info import ClientCertVerifyResult as ClientCertVerifyResult
from ._errors import SendError as SendError
from ._errors import SendErrorCause as SendErrorCause
from ._headers import HeaderMap as HeaderMap
from ._log import Endpoint as Endpoint
from ._log import EndpointHandler as EndpointHandler
from ._log import LogError as LogError
from ._modes import FramingHeadersMode as FramingHeadersMode
from ._modes import HttpKeepaliveMode as HttpKeepaliveMode
from ._pending import PendingRequest as PendingRequest
from ._pending import select as select
from ._request import Request as Request
from ._response import Response as Response
from ._streaming import StreamingBody as StreamingBody
from .acl import Acl as Acl
from .acl import AclError as AclError
from .acl import LookupError as AclLookupError
from .acl import LookupMatch as LookupMatch
from .acl import MatchAction as MatchAction
from .acl import OpenError as AclOpenError
from .config_store import ConfigStore as ConfigStore
from .config_store import ConfigStoreError as ConfigStoreError
from .config_store import Dictionary as Dictionary
from .config_store import LookupError as ConfigStoreLookupError
from .config_store import OpenError as ConfigStoreOpenError
from .device_detection import Device as Device
from .device_detection import lookup as device_lookup
from .geo import Geo as Geo
from .geo import geo_lookup as geo_lookup
from .kv_store import InsertMode as InsertMode
from .kv_store import KVStore as KVStore
from .kv_store import KVStoreError as KVStoreError
from .kv_store import ListPage as ListPage
from .kv_store import LookupResponse as LookupResponse
from .kv_store import PendingKVOperation as PendingKVOperation
from .log import set_panic_endpoint as set_panic_endpoint
from .secret_store import LookupError as SecretStoreLookupError
from .secret_store import OpenError as SecretStoreOpenError
from .secret_store import Secret as Secret
from .secret_store import SecretStore as SecretStore
from .secret_store import SecretStoreError as SecretStoreError

__all__ = [
    "Acl",
    "AclError",
    "AclLookupError",
    "AclOpenError",
    "Backend",
    "BackendBuilder",
    "BackendCreationError",
    "BackendError",
    "BackendHealth",
    "Body",
    "BotCategory",
    "CandidateResponse",
    "ClientCertVerifyResult",
    "ConfigStore",
    "ConfigStoreError",
    "ConfigStoreLookupError",
    "ConfigStoreOpenError",
    "Device",
    "Dictionary",
    "Endpoint",
    "EndpointHandler",
    "FramingHeadersMode",
    "Geo",
    "HeaderMap",
    "HttpKeepaliveMode",
    "InsertMode",
    "KVStore",
    "KVStoreError",
    "ListPage",
    "LogError",
    "LookupMatch",
    "LookupResponse",
    "MatchAction",
    "PendingKVOperation",
    "PendingRequest",
    "Request",
    "Response",
    "Secret",
    "SecretStore",
    "SecretStoreError",
    "SecretStoreLookupError",
    "SecretStoreOpenError",
    "SendError",
    "SendErrorCause",
    "SslVersion",
    "StreamingBody",
    "cache",
    "compute_runtime",
    "device_detection",
    "device_lookup",
    "erl",
    "geo_lookup",
    "log",
    "purge",
    "select",
    "set_panic_endpoint",
]
