"""What `workbench trace` costs: the traced run against the plain papermill run of the same notebook.

For each sample notebook (notebooks/churn.ipynb, notebooks/hard_cases.ipynb, copied to a scratch
folder) the plain run (papermill, `skip` cells left out, as verify runs it) and the traced run
(the same plus a fingerprint cell at each task boundary) take turns (A B A B ...) in the same
process, so a machine that slows down moves both alike; figures are medians of wall seconds and
the ratio is traced / plain (aim: under 1.15). Then the fingerprint of a 1 GB float64 array (what
one boundary pays for such a global; aim: well under a second) against hashing all its bytes.

Run: .venv/bin/python benchmarks/trace_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["churn.ipynb", "hard_cases.ipynb"]


def plain_run(notebook: Path, plan, work: Path) -> float:
    from workbench.execute.papermill_kernel import execute

    skip = {c.index for c in plan.cells if c.role == "skip"}
    source = json.loads(notebook.read_text(encoding="utf-8"))
    source["cells"] = [c for i, c in enumerate(source["cells"]) if i not in skip]
    plain = work / "plain.ipynb"
    plain.write_text(json.dumps(source), encoding="utf-8")
    started = time.perf_counter()
    execute(plain, work / "plain-executed.ipynb", {}, plan.kernel, notebook.parent)
    return time.perf_counter() - started


def traced_run(notebook: Path, plan, work: Path) -> tuple[float, float]:
    from workbench.execute.trace import trace_notebook

    started = time.perf_counter()
    trace, _ = trace_notebook(notebook, plan, {}, work / "trace")
    return time.perf_counter() - started, sum(b.seconds for b in trace.boundaries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from workbench.core.tables import text_table
    from workbench.core.trace import fingerprint
    from workbench.workflows.targets import plan_notebook

    rows = []
    with tempfile.TemporaryDirectory(prefix="workbench-trace-bench-") as tmp:
        scratch = Path(tmp)
        shutil.copytree(ROOT / "notebooks", scratch / "notebooks", ignore=shutil.ignore_patterns("output"))
        for name in NOTEBOOKS:
            notebook = scratch / "notebooks" / name
            plan = plan_notebook(notebook, traced=False)
            plain, traced, prints = [], [], []
            plain_run(notebook, plan, scratch)  # warm-up: imports and caches for both
            for _ in range(args.runs):
                plain.append(plain_run(notebook, plan, scratch))
                seconds, fingerprints = traced_run(notebook, plan, scratch)
                traced.append(seconds)
                prints.append(fingerprints)
            p, t = statistics.median(plain), statistics.median(traced)
            rows.append((name, f"{len(plan.tasks)}", f"{p:.2f}", f"{t:.2f}", f"{statistics.median(prints):.3f}",
                         f"{t / p:.2f}"))
    print(text_table(("notebook", "boundaries", "plain s", "traced s", "fingerprints s", "ratio"), rows,
                     align="llrrrr"))
    print()
    big = np.random.default_rng(0).random(125_000_000)  # 1 GB of float64
    times = []
    for _ in range(5):
        started = time.perf_counter()
        fingerprint(big)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    hashlib.sha256(memoryview(big).cast("B")).hexdigest()
    full = time.perf_counter() - started
    f = statistics.median(times)
    print(text_table(("1 GB float64 array", "seconds", "ratio to a full SHA-256"),
                     [("fingerprint (per boundary)", f"{f:.4f}", f"{f / full:.4f}"),
                      ("SHA-256 of every byte", f"{full:.4f}", "1.0000")], align="lrr"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
