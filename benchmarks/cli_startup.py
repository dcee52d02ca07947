"""Whole-process time of the CLI's quick commands, against another revision in the same run.

`workbench plan NOTEBOOK` sits in an edit-plan loop and behind the panel, so a refactoring must not
make it slower; this measures it (and `workbench --version`, the floor of any Workbench process,
and `python -c pass`, the floor of any Python process) for the working tree and for a baseline
revision checked out in a temporary git worktree, run in turn (A B A B ...) so that a machine
that speeds up or slows down during the run moves both alike. Figures are medians of wall seconds;
the ratio column is working tree / baseline.

Run: .venv/bin/python benchmarks/cli_startup.py [--baseline REV] [--runs N]
(default baseline: HEAD~1; give the revision before a change to see what the change cost).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "workbench --version": ["-m", "workbench.cli", "--version"],
    "workbench plan notebooks/churn.ipynb": ["-m", "workbench.cli", "plan", "notebooks/churn.ipynb"],
    "workbench plan --json": ["-m", "workbench.cli", "plan", "notebooks/churn.ipynb", "--json"],
}


def timed(args: list[str], tree: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD~1", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.baseline], cwd=ROOT, check=True)
        try:
            rows = []
            for label, cmd in COMMANDS.items():
                timed(cmd, ROOT), timed(cmd, base)  # warm the page cache
                ours, theirs = [], []
                for _ in range(args.runs):
                    ours.append(timed(cmd, ROOT))
                    theirs.append(timed(cmd, base))
                a, b = statistics.median(ours), statistics.median(theirs)
                rows.append((label, f"{b:.3f}", f"{a:.3f}", f"{a / b:.2f}"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False)
    from workbench.core.tables import text_table

    print(f"median wall seconds of {args.runs} runs each, in turn; baseline {args.baseline}")
    print(text_table(("command", "baseline (s)", "working tree (s)", "ratio"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
