"""What versioning (DVC) and tracking (MLflow) add to a run of the churn sample.

Each configuration runs `workbench run --force` of the same exported pipeline as a whole CLI
process, in a scratch git repository, best of N after one warm-up run (which also creates the DVC
project and the MLflow store). The baseline is the same run with both off, measured in the same
invocation. Aim (issue 3): under 10% of the run and under 1 s in absolute terms.

    .venv/bin/python benchmarks/tracking_overhead.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    ("baseline: no versioning, no tracking", ["--no-version", "--tracking", "off"]),
    ("DVC versioning only", ["--tracking", "off"]),
    ("DVC + MLflow in the background (default)", ["--tracking", "background"]),
    ("DVC + MLflow before returning (--tracking now)", ["--tracking", "now"]),
]


def timed(cmd: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_TRACKING"}
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def wait_for_background_syncs(cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "workbench.cli", "sync"], cwd=cwd, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.pop("WORKBENCH_TRACKING", None)
    with tempfile.TemporaryDirectory(prefix="wb-bench-track-") as tmp:
        project = Path(tmp)
        (project / "notebooks").mkdir()
        shutil.copy(ROOT / "notebooks" / "churn.ipynb", project / "notebooks")
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        base = [sys.executable, "-m", "workbench.cli", "run", "notebooks/churn.ipynb", "--force"]
        timed(base + ["--tracking", "now"], project)  # warm-up: DVC init, MLflow store, caches
        rows = []
        for label, flags in CONFIGS:
            times = []
            for _ in range(args.repeat):
                times.append(timed(base + flags, project))
                wait_for_background_syncs(project)  # never let a background sync overlap the next run
            rows.append((label, min(times)))
    baseline = rows[0][1]
    print(f"{'configuration':<50} {'best s':>8} {'overhead s':>11} {'overhead %':>11}")
    for label, best in rows:
        print(f"{label:<50} {best:>8.2f} {best - baseline:>11.2f} {100 * (best - baseline) / baseline:>10.1f}%")
    print(f"(whole `workbench run --force` processes, best of {args.repeat}; baseline {baseline:.2f} s)")


if __name__ == "__main__":
    main()
