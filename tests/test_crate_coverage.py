"""The crate coverage table stays true: every item of the Rust ``fastly`` crate that carries
over to Python is listed in docs/crate-items.tsv with its local status; each one marked as
there really is (and is callable when it is a method or function), each one marked missing
really is not, and docs/crate-coverage.md is generated from the list.

Regenerate the Markdown after editing the list: ``python -m tests.test_crate_coverage``.
"""

from __future__ import annotations

import csv
import enum
import importlib
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
ITEMS = DOCS / "crate-items.tsv"
TABLE = DOCS / "crate-coverage.md"
STATUSES = {
    "present": "works as on Fastly",
    "local": "works, with Viceroy's local value or a documented local difference",
    "accepted": "accepted and recorded; no effect locally (documented)",
    "missing": "not available",
}
#: Counted with this list against the code before issue #9 (commit 514654b).
BEFORE = {"present": 293, "local": 4, "accepted": 4, "missing": 193}


@dataclass(frozen=True)
class Item:
    rust_module: str
    rust_type: str
    item: str
    python_module: str
    python_type: str
    status: str
    note: str

    @property
    def rust(self) -> str:
        return "::".join(p for p in (self.rust_module, self.rust_type, self.item) if p)

    @property
    def python(self) -> str:
        return ".".join(p for p in (self.python_module, self.python_type, self.item) if p)


def load() -> list[Item]:
    with ITEMS.open(newline="") as f:
        return [Item(**row) for row in csv.DictReader(f, delimiter="\t")]


def resolve(item: Item) -> Any:
    obj: Any = importlib.import_module(item.python_module)
    for part in [item.python_type, item.item]:
        if part:
            obj = getattr(obj, part)
    return obj


def render(items: list[Item]) -> str:
    """docs/crate-coverage.md."""
    counts = Counter(i.status for i in items)
    available = sum(n for status, n in counts.items() if status != "missing")
    before = sum(n for status, n in BEFORE.items() if status != "missing")
    lines = [
        "# The `fastly` crate in `compute_emu.sdk`",
        "",
        "Generated from `docs/crate-items.tsv` by `python -m tests.test_crate_coverage`; the test",
        "checks that every item marked available exists (callable where it is a method or",
        "function) and every item marked missing does not. Items are those of `fastly` 0.13 that",
        "carry over to Python (no raw handles or trait impls).",
        "",
        f"**{available} of {len(items)} items available** "
        f"({', '.join(f'{counts[s]} {s}' for s in STATUSES)}).",
        f"Before issue #9: {before} of {len(items)} (the issue's audit counted 286 of 477).",
        "",
        "| status | meaning |",
        "| --- | --- |",
        *(f"| {status} | {meaning} |" for status, meaning in STATUSES.items()),
        "",
        "| Rust item | Python | status | note |",
        "| --- | --- | --- | --- |",
    ]
    for item in items:
        lines.append(f"| `{item.rust}` | `{item.python}` | {item.status} | {item.note} |")
    return "\n".join(lines) + "\n"


ALL = load()


@pytest.mark.parametrize("item", ALL, ids=lambda i: i.rust)
def test_the_status_of_each_item_is_true(item: Item) -> None:
    assert item.status in STATUSES, f"{item.rust}: unknown status {item.status!r}"
    if item.status == "missing":
        with pytest.raises((AttributeError, ImportError)):
            resolve(item)
        return
    obj = resolve(item)
    if isinstance(obj, enum.Enum | type):
        return  # a variant (an enum member or an error subclass)
    assert callable(obj), f"{item.python} is not callable"


def test_no_item_is_listed_twice() -> None:
    rust = [i.rust for i in ALL]
    assert len(rust) == len(set(rust))


def test_the_markdown_table_is_generated_from_the_list() -> None:
    assert TABLE.read_text() == render(ALL), "run: python -m tests.test_crate_coverage"


if __name__ == "__main__":
    TABLE.write_text(render(load()))
    sys.stdout.write(f"wrote {TABLE}\n")
