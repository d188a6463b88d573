"""Every relative link in the README, CONTRIBUTING.md and docs/ leads somewhere: the file
or folder exists, and a ``#fragment`` into a markdown page names one of its headings (as
GitHub makes their anchors)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target); the target ends at whitespace (a title may follow).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose(text: str) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces
    turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for line in _prose(page.read_text()):
        heading = HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    return [
        target
        for line in _prose(page.read_text())
        for target in LINK.findall(INLINE_CODE.sub("", line))
        if not EXTERNAL.match(target)
    ]


def broken(page: Path) -> list[str]:
    wrong = []
    for target in links(page):
        path_part, _, fragment = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            wrong.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            wrong.append(f"{target}: no such heading")
    return wrong


def test_the_pages_are_found() -> None:
    assert {page.name for page in PAGES} >= {"README.md", "CONTRIBUTING.md", "operations.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken(page) == []


def test_the_checker_sees_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Waiting: PAYMENT_PENDING\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n"
        "[ok](other.md#waiting-payment_pending) [ok too](#title) ![pic](other.md)\n"
        "[gone](missing.md) [bad anchor](other.md#nowhere) [web](https://example.com/x)\n"
        "`[in code](missing-too.md)`\n\n```\n[fenced](missing-as-well.md)\n```\n"
    )
    assert broken(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no such heading",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Production topology: a Temporal cluster", "production-topology-a-temporal-cluster"),
        ("Same-stack worker cost (issue 20)", "same-stack-worker-cost-issue-20"),
        ("`ce_type` and versions", "ce_type-and-versions"),
        ("1. Find the orders needing attention", "1-find-the-orders-needing-attention"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_readme_is_a_front_door() -> None:
    """Short, and the two commands come first: the first section, the first code block."""
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## The two commands"
    first_block = text.split("```")[1]
    assert "make dev" in first_block
    assert "make test" in first_block
