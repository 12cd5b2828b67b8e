"""The README's links reach files that exist, and anchors into docs/ pages reach a heading there
(the pages' own links are checked by `mkdocs build --strict` in `make test`)."""

from __future__ import annotations

import re

from markdown.extensions.toc import slugify

from websys.plan import PROJECT_DIR

README = PROJECT_DIR / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: str) -> set[str]:
    """Heading ids as MkDocs (Python-Markdown's toc extension) makes them."""
    return {slugify(m[1], "-") for m in re.finditer(r"^#{1,6} (.+)$", page, re.M)}


def test_every_relative_link_of_the_readme_resolves() -> None:
    broken = []
    for target in LINK.findall(README.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = PROJECT_DIR / path
        if not file.is_file() or (anchor and anchor not in anchors(file.read_text(encoding="utf-8"))):
            broken.append(target)
    assert broken == []


def test_the_readme_stays_a_quick_start() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250
