"""Batch scoring throughput: `workbench score` against calling the model in-process, in the same run.

The model is a GradientBoostingClassifier (100 trees) on the churn sample's five features, saved with
`mlflow.sklearn.save_model` (or `--model FOLDER`, e.g. `pipelines/churn/package/model` after
`workbench package churn`, whose predict also applies the packaged feature function). The same rows
are written once as Parquet and as CSV, then scored by:

* in-process: `mlflow.pyfunc.load_model(...).predict(frame)` on the whole frame already in memory
  (the upper bound: no reading, no writing), and the same after `pd.read_parquet` / `pd.read_csv`;
* `workbench.score(...)` in this process (chunked read, predict, write, request log);
* the `workbench score` command in a fresh process (its start-up included), local and
  `--executor dask` (a LocalCluster of 2 workers, started by the command: included).

It prints rows/s per way and the ratio to the in-process predict on the same input.

    .venv/bin/python benchmarks/batch_scoring.py [--rows 200000] [--chunk-rows 50000] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def build_model(folder: Path, frame) -> Path:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from scoring import FEATURES
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(frame[FEATURES], frame["churned"])
    mlflow.sklearn.save_model(model, folder, signature=infer_signature(frame[FEATURES].head(100)),
                              skops_trusted_types=["sklearn.tree._tree.Tree"])
    return folder


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--chunk-rows", type=int, default=50_000)
    ap.add_argument("--model", help="an MLflow model folder (default: build one)")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()

    import mlflow.pyfunc
    import pandas as pd
    from scoring import FEATURES, churn_frame

    import workbench

    with tempfile.TemporaryDirectory(prefix="workbench-batch-bench-") as tmp:
        work = Path(tmp)
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        model_dir = Path(args.model).resolve() if args.model else build_model(work / "model", churn_frame(5000))
        columns = FEATURES if not args.model else ["tenure_months", "monthly_charges", "calls"]
        frame = churn_frame(args.rows, seed=11)[columns]
        frame.to_parquet(work / "rows.parquet", row_group_size=args.chunk_rows)
        frame.to_csv(work / "rows.csv", index=False)
        model = mlflow.pyfunc.load_model(str(model_dir))
        model.predict(frame.head(10))  # warm

        results: list[tuple[str, str, float]] = []  # (way, input, seconds)
        seconds, _ = timed(lambda: model.predict(frame))
        results.append(("in-process predict (frame in memory)", "-", seconds))
        for kind, read in (("parquet", pd.read_parquet), ("csv", pd.read_csv)):
            seconds, _ = timed(lambda read=read, kind=kind: model.predict(read(work / f"rows.{kind}")))
            results.append(("in-process read + predict", kind, seconds))
        for kind in ("parquet", "csv"):
            seconds, res = timed(lambda kind=kind: workbench.score(str(model_dir), work / f"rows.{kind}",
                                                                   work / f"api.{kind}", chunk_rows=args.chunk_rows,
                                                                   root=work))
            results.append(("workbench.score() in this process", kind, seconds))
        executors = ["local"] + ([] if args.no_dask else ["dask"])
        for executor in executors:
            for kind in ("parquet", "csv"):
                cmd = [sys.executable, "-m", "workbench.cli", "score", str(model_dir), f"rows.{kind}", "-o",
                       f"cli-{executor}.{kind}", "--chunk-rows", str(args.chunk_rows), "--executor", executor]
                seconds, proc = timed(lambda cmd=cmd: subprocess.run(cmd, cwd=work, capture_output=True, text=True))
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                results.append((f"`workbench score` CLI, {executor} (start-up incl.)", kind, seconds))
        check = pd.read_parquet(work / "cli-local.parquet")
        expected = model.predict(frame)
        got = check[[c for c in check.columns if c.startswith("prediction")]].to_numpy().squeeze()
        same = bool((abs(got - pd.DataFrame(expected).to_numpy().squeeze()) <= 1e-12).all())

    base = {kind: next(s for w, k, s in results if w == "in-process read + predict" and k == kind)
            for kind in ("parquet", "csv")}
    memory = results[0][2]
    print(f"batch scoring, {args.rows:,} rows, chunks of {args.chunk_rows:,}, model {model_dir.name} "
          f"({os.cpu_count()} CPUs); CLI output equals in-process predictions: {same}")
    print(f"{'way':<48} {'input':<8} {'seconds':>8} {'rows/s':>12} {'vs in-process':>14}")
    for way, kind, seconds in results:
        ratio = seconds / (base[kind] if kind in base else memory)
        print(f"{way:<48} {kind:<8} {seconds:8.2f} {args.rows / seconds:12,.0f} {ratio:13.2f}x")
    print("(vs in-process: time relative to in-process read + predict of the same file; the first row: 1.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
