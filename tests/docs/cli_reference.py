"""Writes docs/reference/cli.md from the click commands themselves (every verb's --help), so it cannot drift.

Run ``python -m tests.docs.cli_reference`` after changing a command; tests/docs/test_cli_reference.py fails
while the page differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "cli.md"


def _commands(group: click.Group, path: list[str]):
    context = click.Context(group, info_name=" ".join(path), terminal_width=100, max_content_width=100)
    yield path, group.get_help(context)
    if isinstance(group, click.Group):
        for name in sorted(group.list_commands(context)):
            command = group.get_command(context, name)
            if command is not None and not command.hidden:
                yield from _commands(command, path + [name])


def render() -> str:
    """The page's Markdown: `duckml --help`, then each command's help, in the order of the command tree."""
    from duckml.cli import cli

    parts = ["# Command-line reference", "",
             "Every `duckml` command with its `--help`, generated from the commands by "
             "`python -m tests.docs.cli_reference` (a test fails when this page is out of date). The global "
             "`--store PATH` chooses the store for every command; see [the command line](../cli.md) for a tour.", ""]
    for path, text in _commands(cli, ["duckml"]):
        parts += [f"## `{' '.join(path)}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}", file=sys.stderr)
