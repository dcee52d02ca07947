"""The `workbench` command: argument parsing and printing over the public API."""

from workbench.cli.main import main, parser

__all__ = ["main", "parser"]
