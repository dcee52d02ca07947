"""The release, in one place: run records, generated files and `workbench --version` carry it."""

__version__ = "0.1.0"
