"""Every Python and SQL block of the documentation site runs against a fresh store, so the docs cannot rot.

Each page runs in an empty folder of its own, its blocks in order: what a reader pasting them into a notebook
would see. A block that cannot run here says why on the line before it (see tests/docs/blocks.py).
"""

from __future__ import annotations

import contextlib
import io

import pytest

import duckml
from tests.docs.blocks import blocks_of, pages

RUNNABLE = ("python", "sql")
PAGES_WITH_CODE = [p for p in pages()
                   if any(b.language in RUNNABLE and not b.skip_reason for b in blocks_of(p))]


def statements(code: str) -> list[str]:
    r"""The statements of a SQL block: split at each ``;`` outside quotes and ``--`` comments.

    >>> statements("SELECT ';' AS a; -- x; y\nSELECT 2")
    ["SELECT ';' AS a", '-- x; y\nSELECT 2']
    """
    found, current, quote, i = [], [], None, 0
    while i < len(code):
        char = code[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif code.startswith("--", i):
            end = code.find("\n", i)
            end = len(code) if end < 0 else end
            current.append(code[i:end])
            i = end
            continue
        elif char == ";":
            found.append("".join(current).strip())
            current, i = [], i + 1
            continue
        current.append(char)
        i += 1
    found.append("".join(current).strip())
    return [s for s in found if s and not all(line.strip().startswith("--") for line in s.splitlines())]


def run_sql(code: str) -> None:
    store = duckml.connect()
    for statement in statements(code):
        result = store.sql(statement)
        if result is not None:
            result.fetchall()


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.stem)
def test_every_block_of_the_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DUCKML_STORE", str(tmp_path / "duckml.duckdb"))
    duckml.reset_state()
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    try:
        for block in blocks_of(page):
            if block.language not in RUNNABLE or block.skip_reason:
                continue
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    if block.language == "python":
                        exec(compile(block.code, block.where, "exec"), namespace)
                    else:
                        run_sql(block.code)
            except Exception as error:
                pytest.fail(f"{block.where}: the {block.language} block raised {type(error).__name__}: {error}")
            ran += 1
    finally:
        duckml.reset_state(flush=False)
    assert ran, f"{page.name}: every block is skipped"


def test_skipped_blocks_say_why():
    for page in pages():
        for block in blocks_of(page):
            if block.skip_reason is not None:
                assert len(block.skip_reason) > 10, f"{block.where}: say why the block cannot run"
