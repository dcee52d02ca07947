"""The `workbench` command: argument parsing and printing over the public API."""

from __future__ import annotations

import os
import sys

__all__ = ["main", "parser"]

# the commands that run notebook code in this process or in processes it starts
RUNS_CODE = {"run", "verify", "rerun", "trace", "ci"}


def main(argv: list[str] | None = None) -> int:
    """The console script. For the commands that run code, a process started without
    PYTHONHASHSEED re-executes itself with the pinned seed first (execute/hash_seed.py says why),
    before anything heavy is imported: a set's order is then the same in the pipeline's tasks,
    in the notebook's kernel and in every later run."""
    if argv is None:
        command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
        if command in RUNS_CODE and "PYTHONHASHSEED" not in os.environ:
            from workbench.execute.hash_seed import PINNED

            os.environ["PYTHONHASHSEED"] = PINNED
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable, "-m", "workbench.cli", *sys.argv[1:]])
    from workbench.cli.main import main as run

    return run(argv)


def parser():
    from workbench.cli.main import parser as make

    return make()
