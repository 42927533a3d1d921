"""The fenced code blocks of the documentation site, so that tests can run them.

A block is run unless the line just before its fence is ``<!-- docs-test: skip: <reason> -->`` (a block that
needs a PostgreSQL server or a Spark cluster). Python blocks of a page share one namespace, in page order, like
a notebook; SQL blocks run through ``duckml.connect().sql`` on the store the page's Python chose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    code: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    """Every fenced block of a Markdown page, with its language and skip marker.

    >>> import tempfile, pathlib
    >>> page = pathlib.Path(tempfile.mkdtemp()) / "p.md"
    >>> _ = page.write_text("text\\n```python\\nx = 1\\n```\\n<!-- docs-test: skip: needs PostgreSQL -->\\n```sql\\nSELECT 1\\n```\\n")
    >>> [(b.language, b.code, b.skip_reason) for b in blocks_of(page)]
    [('python', 'x = 1', None), ('sql', 'SELECT 1', 'needs PostgreSQL')]
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0].lower() if opening["info"].strip() else ""
        skip = _SKIP.match(lines[i - 1]) if i else None
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        found.append(Block(path.relative_to(DOCS).as_posix() if path.is_relative_to(DOCS) else path.name,
                           i + 1, language, "\n".join(body), skip["reason"] if skip else None))
        i = j + 1
    return found


def pages() -> list[Path]:
    """Every Markdown page of the site."""
    return sorted(DOCS.rglob("*.md"))
