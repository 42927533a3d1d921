from duckml.cli import cli

cli()
