"""The docs a newcomer reads: a short README, and no link in README.md or docs/*.md leading nowhere.

Relative links must name a file inside the repository, and a ``#fragment`` must name a heading of
the target page, slugged the way GitHub does it (lower case; punctuation dropped; spaces become
hyphens; a repeated heading gets ``-1``, ``-2``, …).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_BYTES = 15 * 1024

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_INLINE_CODE = re.compile(r"`+[^`]*`+")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MD_LINK_TEXT = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    text = _MD_LINK_TEXT.sub(r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def links(page: Path) -> list[str]:
    found: list[str] = []
    for line in _prose_lines(page.read_text(encoding="utf-8")):
        found.extend(_LINK.findall(_INLINE_CODE.sub("", line)))
    return found


def broken_links(page: Path) -> list[str]:
    problems: list[str] = []
    for target in links(page):
        if _SCHEME.match(target):
            continue  # http:, https:, mailto: — not checked offline
        path_part, _, fragment = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if ROOT not in dest.parents and dest != ROOT:
            problems.append(f"{target}: leaves the repository")
            continue
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            problems.append(f"{target}: no heading #{fragment} in {dest.relative_to(ROOT)}")
    return problems


def test_github_slug_follows_github_rules() -> None:
    assert github_slug("13. Refer a survivor to another partner") == (
        "13-refer-a-survivor-to-another-partner"
    )
    assert github_slug("Running in production (Docker)") == "running-in-production-docker"
    assert github_slug("GraphQL (`/graphql`)") == "graphql-graphql"
    assert github_slug("ETag and If-Match") == "etag-and-if-match"


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Limits\n\n```\n## Not a heading\n```\n\n## Limits\n")
    assert anchors(page) == {"notes", "limits", "limits-1"}


def test_a_broken_link_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "other.md").write_text("# Other\n\n## Here\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#here) [bad anchor](other.md#there) [gone](missing.md) "
        "[out](../elsewhere.md) [web](https://example.org) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "other.md#there: no heading #there in other.md",
        "missing.md: no such file",
        "../elsewhere.md: leaves the repository",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_readme_is_short_and_stands_alone() -> None:
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) < README_MAX_BYTES, f"README.md is {len(readme)} bytes"
    for page in PAGES:
        assert "../shared" not in page.read_text(encoding="utf-8"), page
