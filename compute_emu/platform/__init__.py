"""The Compute platform's local data: stores and lookups from `[local_server]` (no sockets)."""
