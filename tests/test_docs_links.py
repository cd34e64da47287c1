"""Every relative link in the README and docs/, and every `docs/X.md#anchor` named in a code comment, points at a
file that exists and, with an anchor, at a heading that file has (headings get renamed as results move on; a link
to the old name would silently land at the top of the page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, code ticks and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"#{1,6} (.*)", line)
        if heading:
            base = slug(heading.group(1))
            seen[base] = seen.get(base, -1) + 1  # a repeated heading gets -1, -2, ... as on GitHub
    return {base if n == 0 else f"{base}-{n}" for base, count in seen.items() for n in range(count + 1)}


def test_slug_follows_github():
    assert slug("Like with like: the records checked again (issue #29)") == \
        "like-with-like-the-records-checked-again-issue-29"
    assert slug('The model proposes: `synthesis.labels = "ensemble"`') == \
        "the-model-proposes-synthesislabels--ensemble"
    assert slug("0.3% of hopper-medium") == "03-of-hopper-medium"


def broken(source: Path, target: str) -> str | None:
    path, _, anchor = target.partition("#")
    file = (source.parent / path) if path else source
    if not file.exists():
        return f"{source.relative_to(ROOT)}: no file {target}"
    if anchor and file.suffix == ".md" and anchor not in anchors(file):
        return f"{source.relative_to(ROOT)}: no heading #{anchor} in {file.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()) if not re.match(r"[a-z]+:", t)]
    assert [b for t in targets if (b := broken(doc, t))] == []


def test_code_comments_name_existing_headings():
    problems = []
    for source in [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]:
        for target in re.findall(r"docs/(\w+\.md#[\w-]+)", source.read_text()):
            if problem := broken(ROOT / "docs" / "README", target):  # resolved from docs/
                problems.append(f"{source.relative_to(ROOT)} -> {problem}")
    assert problems == []


def test_benchmarks_index_names_every_script():
    """benchmarks/README.md lists every script there (a new one is added to the index, a removed one leaves it)."""
    index = (ROOT / "benchmarks" / "README.md").read_text()
    listed = set(re.findall(r"`([\w.]+\.(?:py|sh))`", index))
    present = {p.name for p in (ROOT / "benchmarks").iterdir() if p.suffix in (".py", ".sh")}
    assert listed == present, f"not listed: {sorted(present - listed)}; listed but absent: {sorted(listed - present)}"
