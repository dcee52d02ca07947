"""Per-task overhead of `--executor dask` against the local executor, on the same pipeline.

A generated notebook of N tasks (`t0` makes a small array, `t1`..`t{N-1}` each take it and do a
trivial numpy step, so all time beyond the work is overhead) is exported once into a temporary
folder, then built with `force=True` (every task really runs), in-process:

* local: `run.build(..., jobs=1)` (serial, in this process), warm (Ploomber already imported);
* dask, cold: `dask_executor.build_on_dask` against a LocalCluster of 2 single-threaded worker
  processes started beforehand (the workers import Ploomber and build the DAG on first use);
* dask, warm: the same again (workers keep the DAG per pipeline and parameters);
* dask, warm, file:// store: the same with `products=file://TMP/store`, i.e. every task's inputs
  and products uploaded to and downloaded from an fsspec store (`--products URL`), the cost of
  workers that share no folder with the client (a local filesystem: the transfer itself is cheap);
* dask, own cluster: `build_on_dask` with no address, i.e. the LocalCluster started and stopped
  for the run, as `workbench run --executor dask` without --scheduler does.

Reported: seconds, seconds per task, and the ratio to the local build. Also the cluster start.

Run: .venv/bin/python benchmarks/dask_overhead.py [--tasks 12]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def notebook(n: int) -> dict:
    def cell(i, source, tags):
        return {"cell_type": "code", "id": f"c{i:03d}", "metadata": {"tags": tags}, "source": source,
                "execution_count": None, "outputs": []}

    cells = [cell(0, "size = 1000", ["parameters"]), cell(1, "import numpy as np", ["imports"]),
             cell(2, "base = np.arange(size, dtype=float)", ["task:t0"])]
    cells += [cell(2 + i, f"v{i} = float((base * {i}).sum())", [f"task:t{i}"]) for i in range(1, n)]
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=12)
    n = ap.parse_args().tasks

    from distributed import LocalCluster

    from workbench.api import export
    from workbench.execute.build import build, load_plan
    from workbench.execute.dask_runner import build_on_dask

    def say(msg):
        print(msg, file=sys.stderr, flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / "notebooks" / "many.ipynb"
        nb.parent.mkdir()
        nb.write_text(json.dumps(notebook(n)))
        pipeline = Path(tmp) / "pipelines" / "many"
        export(nb, pipeline)
        plan = load_plan(pipeline)
        params = {"size": 1000}

        def timed(label, fn):
            started = time.perf_counter()
            result = fn()
            seconds = time.perf_counter() - started
            assert len(result.ran) == n, result.tasks
            rows.append((label, seconds))
            say(f"{label}: {seconds:.2f}s")

        build(pipeline, plan, params, force=True)  # imports Ploomber: not what is compared
        timed("local (serial, in-process)", lambda: build(pipeline, plan, params, force=True))
        timed("local --jobs 2 (fork pool)", lambda: build(pipeline, plan, params, force=True, jobs=2))
        started = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        start_s = time.perf_counter() - started
        try:
            address = cluster.scheduler_address
            timed("dask, cold workers", lambda: build_on_dask(pipeline, plan, params, scheduler=address, force=True))
            timed("dask, warm workers", lambda: build_on_dask(pipeline, plan, params, scheduler=address, force=True))
            timed("dask, warm workers (2nd)", lambda: build_on_dask(pipeline, plan, params, scheduler=address, force=True))
            store = f"file://{tmp}/store"
            timed("dask, warm, file:// store", lambda: build_on_dask(pipeline, plan, params, scheduler=address,
                                                                     force=True, products=store))
            timed("dask, store (2nd)", lambda: build_on_dask(pipeline, plan, params, scheduler=address,
                                                             force=True, products=store))
        finally:
            cluster.close()
        timed("dask, own LocalCluster", lambda: build_on_dask(pipeline, plan, params, force=True))

    local = rows[0][1]
    print(f"\n{n} tasks; LocalCluster(2 workers) start {start_s:.2f}s\n")
    print(f"{'executor':<28} {'seconds':>8} {'s/task':>8} {'x local':>8} {'+s/task':>8}")
    for label, seconds in rows:
        print(f"{label:<28} {seconds:8.2f} {seconds / n:8.3f} {seconds / local:8.2f} {(seconds - local) / n:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
