"""Pure HTTP rules (no I/O: no sockets, no anyio): message framing, Viceroy's backend and
handoff rules, the chunked-body scanner. Functions take plain values and return plain
values, so each rule has unit tests of its own."""
