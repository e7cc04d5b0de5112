"""A body stream the SDK makes itself: a gunzipping view of a backend body."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from ._body import Body, BodyStream

if TYPE_CHECKING:
    from ._request import Request
    from ._response import Response


class GunzipStream:
    """``inner``'s bytes, gzip-decoded as they are read (for ``set_auto_decompress_gzip``)."""

    def __init__(self, prefix: bytes, inner: BodyStream | None) -> None:
        self._pending = prefix
        self._inner = inner
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._done = False

    def read_chunk(self) -> bytes:
        while not self._done:
            raw, self._pending = self._pending, b""
            if not raw and self._inner is not None:
                raw = self._inner.read_chunk()
            if not raw:
                self._done = True
                return self._zlib.flush()
            try:
                out = self._zlib.decompress(raw)
            except zlib.error as exc:
                raise ValueError(f"the backend's gzip body is invalid: {exc}") from None
            if self._zlib.eof:  # a second gzip member may follow
                rest = self._zlib.unused_data
                self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = rest
            if out:
                return out
        return b""


def gunzip_response_body(body: Body) -> Body:
    """A body that decodes ``body`` (which is consumed) lazily."""
    prefix, stream = body.detach()
    return Body.from_stream(GunzipStream(prefix, stream))


def gunzip_if_asked(request: Request, response: Response) -> Response:
    """With ``set_auto_decompress_gzip(True)``, a gzip response body is decoded as it is read
    and its ``Content-Encoding``/``Content-Length`` are removed (as on Fastly)."""
    if not request._auto_decompress_gzip:
        return response
    encoding = (response.get_header("content-encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        response.remove_header("content-encoding")
        response.remove_header("content-length")
        response._body = gunzip_response_body(response._body)
    return response
