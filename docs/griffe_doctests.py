"""A griffe extension for the API reference: docstring examples (``>>>`` lines and their output) become
``pycon`` code blocks, so the site shows them as code instead of reading ``['a']`` as a Markdown link.

duckml's docstrings keep their examples as plain doctests (pytest runs them); only the site's copy changes.
"""

from __future__ import annotations

import griffe


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (a ``>>>`` line, its ``...`` continuations and output) in a fence.

    >>> print(fence_doctests("Intro.\\n\\n>>> 1 + 1\\n2\\n\\nAfter."))
    Intro.
    <BLANKLINE>
    ```pycon
    >>> 1 + 1
    2
    ```
    <BLANKLINE>
    After.
    """
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if not inside and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(line)
    if inside:
        out.append("```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:  # every module, class, function and attribute
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)
