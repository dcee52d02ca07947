"""Workbench: promote a tagged Jupyter notebook into a tested, tracked Ploomber pipeline.

The package root stays import-light (the CLI must start fast); the public runtime API for task
code lives in `workbench.runtime`.
"""

__version__ = "0.1.0"
