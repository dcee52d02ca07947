"""Scoring latency and throughput: `workbench serve` over HTTP against calling the model in-process.

The model is the churn sample's: a GradientBoostingClassifier (100 trees) on the notebook's five
features, built here and saved with `mlflow.sklearn.save_model`, or the packaged model at
`pipelines/churn/package/model` when `workbench package churn` made one (pass --own-model to
ignore it). Both sides score the same rows in the same run:

* in-process: `mlflow.pyfunc.load_model(...).predict(frame)` (MLflow's schema check included);
* HTTP: a `workbench serve MODEL --port 0 --no-track` subprocess (single mode, request log on, as a
  user runs it) and one client thread posting `dataframe_split` JSON over a keep-alive connection;
  the client's JSON encoding and decoding are part of the time, as they are for a real client;
* MLflow: the same client against MLflow's own scoring server for the same model (uvicorn running
  `mlflow.pyfunc.scoring_server.app`, what `mlflow models serve --env-manager local` runs), to
  show what Workbench's router and request log add on top.

For single rows and batches of 1,000 rows it prints p50/p99 latency per request, throughput in rows
per second (one client, requests back to back) and the HTTP/in-process ratios.

    .venv/bin/python benchmarks/scoring.py [--requests 400] [--batches 60] [--own-model]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "pipelines" / "churn" / "package" / "model"
FEATURES = ["tenure_months", "monthly_charges", "calls", "calls_per_month", "is_new"]


def churn_frame(n: int, seed: int = 7):
    """The churn notebook's data and features (load + features tasks)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    raw = pd.DataFrame({"tenure_months": rng.integers(0, 72, n), "monthly_charges": rng.normal(70, 20, n).round(2),
                        "calls": rng.poisson(3, n)})
    logit = -2 + 0.12 * raw["calls"] - 0.03 * raw["tenure_months"] + 0.01 * raw["monthly_charges"]
    raw["churned"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    raw["calls_per_month"] = raw["calls"] / raw["tenure_months"].clip(lower=1)
    raw["is_new"] = (raw["tenure_months"] < 6).astype(int)
    return raw


def build_model(folder: Path) -> Path:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.ensemble import GradientBoostingClassifier

    data = churn_frame(5000)
    clf = GradientBoostingClassifier(n_estimators=100, random_state=7).fit(data[FEATURES], data["churned"])
    mlflow.sklearn.save_model(clf, folder, signature=infer_signature(data[FEATURES], clf.predict(data[FEATURES])),
                              input_example=data[FEATURES].head(2), skops_trusted_types=["sklearn.tree._tree.Tree"])
    return folder


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(fn, payloads: list, warmup: int = 5) -> dict:
    for payload in payloads[:warmup]:
        fn(payload)
    times = []
    started = time.perf_counter()
    for payload in payloads:
        t = time.perf_counter()
        fn(payload)
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - started
    return {"p50": percentile(times, 0.50) * 1000, "p99": percentile(times, 0.99) * 1000,
            "mean": statistics.fmean(times) * 1000, "requests_per_s": len(payloads) / wall}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PlainMlflow:
    """MLflow's scoring server for the model, as `mlflow models serve --env-manager local` starts it."""

    def __init__(self, model: Path) -> None:
        from mlflow.pyfunc import scoring_server

        port = free_port()
        command, env = scoring_server.get_cmd(str(model), port=port, host="127.0.0.1", nworkers=1)
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", *command.split()], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return ""


class Served:
    """`workbench serve FOLDER --port 0 --no-track` in a scratch project, stopped with SIGINT."""

    def __init__(self, model: Path, project: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", str(model), "--port", "0",
                                      "--no-track"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        for line in self.proc.stdout:
            if m := re.match(r"serving .* at (http://\S+)$", line.strip()):
                self.url = m.group(1)
                break
        else:
            raise SystemExit(f"workbench serve did not start:\n{self.proc.stderr.read()}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            _out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return err.strip().splitlines()[-1] if err.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="single-row requests per side")
    parser.add_argument("--batches", type=int, default=60, help="1,000-row requests per side")
    parser.add_argument("--own-model", action="store_true", help="build the model even if a packaged one exists")
    args = parser.parse_args()

    import mlflow.pyfunc

    with tempfile.TemporaryDirectory(prefix="wb-bench-serve-") as tmp:
        project = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        if PACKAGED.joinpath("MLmodel").is_file() and not args.own_model:
            folder, what = PACKAGED, "packaged model pipelines/churn/package/model"
        else:
            print("building the churn model (GradientBoosting, 100 trees) ...", file=sys.stderr)
            folder, what = build_model(project / "model"), "churn-like GradientBoosting built by this script"
        model = mlflow.pyfunc.load_model(str(folder))
        schema = model.metadata.get_input_schema()
        columns = schema.input_names() if schema is not None and schema.has_input_names() else FEATURES
        frame = churn_frame(max(args.requests, args.batches * 1000), seed=11)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise SystemExit(f"the model wants columns this script cannot make: {missing}; use --own-model")
        frame = frame[columns]
        singles = [frame.iloc[[i]] for i in range(args.requests)]
        batches = [frame.iloc[i * 1000:(i + 1) * 1000] for i in range(args.batches)]

        print(f"starting workbench serve {folder} and MLflow's scoring server ...", file=sys.stderr)
        servers = {"workbench": Served(folder, project), "mlflow": PlainMlflow(folder)}
        try:
            clients = {name: http_client(server.url) for name, server in servers.items()}
            for name, score in clients.items():
                assert score(batches[0]) == model.predict(batches[0]).tolist(), f"{name} disagrees with in-process"
            results = []
            for label, payloads in (("1 row", singles), ("1,000 rows", batches)):
                print(f"measuring {label} ...", file=sys.stderr)
                timings = {"local": measure(model.predict, payloads)}
                timings.update({name: measure(score, payloads) for name, score in clients.items()})
                results.append((label, len(payloads[0]), len(payloads), timings))
        finally:
            summary = servers["workbench"].stop()
            servers["mlflow"].stop()

    print(f"\nscoring: {what}; one client, requests back to back; latency in ms, throughput in rows/s")
    head = (f"{'request':<11}{'n':>5} | {'in-process':^24} | {'workbench serve (HTTP)':^24} | "
            f"{'HTTP / in-process':^20} | {'MLflow server (HTTP)':^24}")
    sub = (f"{'':<16} | {'p50':>7}{'p99':>7}{'rows/s':>10} | {'p50':>7}{'p99':>7}{'rows/s':>10} | "
           f"{'p50':>6}{'p99':>7}{'thru':>7} | {'p50':>7}{'p99':>7}{'rows/s':>10}")
    print(head)
    print(sub)
    print("-" * len(sub))
    for label, n_rows, count, t in results:
        rows = {name: t[name]["requests_per_s"] * n_rows for name in t}
        local, wb, ml = t["local"], t["workbench"], t["mlflow"]
        print(f"{label:<11}{count:>5} | {local['p50']:>7.2f}{local['p99']:>7.2f}{rows['local']:>10,.0f} | "
              f"{wb['p50']:>7.2f}{wb['p99']:>7.2f}{rows['workbench']:>10,.0f} | "
              f"{wb['p50'] / local['p50']:>5.1f}x{wb['p99'] / local['p99']:>6.1f}x{rows['local'] / rows['workbench']:>6.1f}x | "
              f"{ml['p50']:>7.2f}{ml['p99']:>7.2f}{rows['mlflow']:>10,.0f}")
    print(f"workbench serve: {summary}")


def http_client(url: str):
    """A function scoring a frame at url (keep-alive session), once the server answers /ping."""
    import requests

    session = requests.Session()
    deadline = time.monotonic() + 120
    while True:
        try:
            if session.get(url + "/ping", timeout=2).ok:
                break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise SystemExit(f"no server answered at {url}") from None
            time.sleep(0.2)

    def score(rows):
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
        reply = session.post(url + "/invocations", json=body, timeout=60)
        reply.raise_for_status()
        return reply.json()["predictions"]

    return score


if __name__ == "__main__":
    main()
