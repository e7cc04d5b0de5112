"""The README and docs/ hold together: every link between them reaches a file and, with a
``#fragment``, a heading of it (GitHub's anchors); every page of docs/ is reachable from the
README; the README stays a guide (under 450 lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.processes import ROOT

README = ROOT / "README.md"
PAGES = sorted([README, *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE = re.compile(r"(`+).+?\1", re.S)


def prose(text: str) -> str:
    """``text`` without code blocks and inline code (links there are not links)."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), re.M):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # a repeated heading gets -1, -2, ...
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"[a-z]+:", target)  # http:, https:, mailto:
    ]


def test_the_slugs_are_githubs():
    assert slug("Fanout: real-time through GRIP") == "fanout-real-time-through-grip"
    assert slug("`--kv-persist`: what survives a crash") == "--kv-persist-what-survives-a-crash"
    assert slug("Bound to 127.0.0.1, and the names it answers") == (
        "bound-to-127001-and-the-names-it-answers"
    )
    assert slug("One request, from the socket to `main()` and back") == (
        "one-request-from-the-socket-to-main-and-back"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_reaches_its_file_and_heading(page: Path):
    broken = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file():
            broken.append(f"{target}: no file {file}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: no heading #{fragment} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_every_page_of_docs_is_reachable_from_the_readme():
    reachable, todo = {README}, [README]
    while todo:
        page = todo.pop()
        for target in links(page):
            file = (page.parent / target.partition("#")[0]).resolve()
            if file.suffix == ".md" and file.is_file() and file not in reachable:
                reachable.add(file)
                todo.append(file)
    assert sorted(str(p.relative_to(ROOT)) for p in set(PAGES) - reachable) == []


def test_the_readme_is_a_guide_not_the_reference():
    lines = README.read_text().count("\n")
    assert lines < 450, f"README.md has {lines} lines: move reference material to docs/"
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    unlinked = [p.name for p in PAGES if p != README and p.resolve() not in linked]
    assert unlinked == [], "pages of docs/ the README's reference list does not name"
