from tests.docs.cli_reference import PAGE, render


def test_the_cli_reference_page_is_what_the_commands_say():
    assert PAGE.exists(), "docs/reference/cli.md is missing: run python -m tests.docs.cli_reference"
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/reference/cli.md is out of date with duckml.cli: run python -m tests.docs.cli_reference")
