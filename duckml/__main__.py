"""`python -m duckml` runs the CLI."""

from duckml.cli import cli

if __name__ == "__main__":
    cli(prog_name="duckml")
