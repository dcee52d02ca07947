"""Versioned data and tracked runs, end to end: real git, real DVC with a local remote, real MLflow
(the embedded store and a real `mlflow server` on 127.0.0.1), through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

pytestmark = pytest.mark.slow


def _sales_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,20\nnorth,5\n")
    nb = root / "sales.ipynb"
    write_notebook(nb, [
        ("min_amount = 0", "parameters"),
        ("import pandas as pd\nimport workbench", "imports"),
        ("sales = pd.read_csv('data/sales.csv')\nsales = sales[sales.amount >= min_amount]\n"
         "workbench.log_metric('rows', len(sales))", "task:load"),
        ("by_region = sales.groupby('region', as_index=False).amount.sum()", "task:aggregate"),
        ("total = float(by_region.amount.sum())\nregions = len(by_region)", ["task:report", "metrics"]),
    ])
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "start"],
                   cwd=root, check=True)
    return nb


def _runs(root: Path, env=None) -> list[dict]:
    proc = workbench("runs", "--json", cwd=root, check=True)
    return json.loads(proc.stdout)


def test_runs_are_versioned_restorable_and_comparable(tmp_path: Path):
    nb = _sales_project(tmp_path)
    first = workbench("run", nb.name, cwd=tmp_path, check=True)
    assert "total=35" in first.stdout
    products = tmp_path / "pipelines" / "sales" / "products"
    first_bytes = {p.relative_to(products): p.read_bytes() for p in products.rglob("*") if p.is_file()}
    first_csv = (tmp_path / "data" / "sales.csv").read_bytes()

    (tmp_path / "data" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,20\nnorth,5\nwest,7\n")
    second = workbench("run", nb.name, cwd=tmp_path, check=True)
    assert "total=42" in second.stdout

    runs = _runs(tmp_path)
    assert [r["status"] for r in runs] == ["FINISHED", "FINISHED"]
    new, old = runs
    assert new["data"]["data/sales.csv"] != old["data"]["data/sales.csv"]
    assert new["data"]["pipelines/sales/products"] != old["data"]["pipelines/sales/products"]
    assert old["metrics"] == {"total": 35.0, "regions": 2.0, "rows": 3.0} and new["metrics"]["total"] == 42.0
    assert old["git"]["commit"] and len(old["git"]["commit"]) == 40

    diff = workbench("diff", old["id"], new["id"], cwd=tmp_path, check=True).stdout
    assert "data/sales.csv: modified" in diff
    assert "total: 35.0 -> 42.0" in diff

    out = workbench("checkout", old["id"], cwd=tmp_path, check=True).stdout
    assert "data/sales.csv" in out and "pipelines/sales/products" in out
    assert (tmp_path / "data" / "sales.csv").read_bytes() == first_csv
    now = {p.relative_to(products): p.read_bytes() for p in products.rglob("*") if p.is_file()}
    assert now == first_bytes

    # after the checkout, the next run sees that its products are not those it last made
    rerun = workbench("run", nb.name, cwd=tmp_path, check=True)
    assert "total=35" in rerun.stdout

    lineage = workbench("lineage", "report/total", cwd=tmp_path, check=True).stdout
    assert "aggregate/by_region" in lineage and "load/sales" in lineage
    assert "raw data data/sales.csv" in lineage and "min_amount=0" in lineage


def test_the_mlflow_record_holds_params_metrics_tags_and_task_runs(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_TRACKING", "now")
    nb = _sales_project(tmp_path)
    workbench("run", nb.name, "-p", "min_amount=6", cwd=tmp_path, check=True)
    record = _runs(tmp_path)[0]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/.workbench/mlflow.db")
    run = client.get_run(record["mlflow_run_id"])
    assert run.data.params["min_amount"] == "6"
    assert run.data.metrics["total"] == 30.0
    tags = run.data.tags
    assert tags["git.commit"] == record["git"]["commit"]
    assert tags["workbench.notebook_sha256"] and tags["workbench.device"] == "CPU"
    assert any(k.startswith("data.") and "sales.csv" in k for k in tags)
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    assert {c.data.tags.get("mlflow.runName") for c in children} >= {"load", "aggregate", "report"}
    load = next(c for c in children if c.data.tags.get("mlflow.runName") == "load")
    assert "duration_s" in load.data.metrics and "peak_rss_mb" in load.data.metrics
    assert load.data.metrics["rows"] == 2.0  # workbench.log_metric from the task's code
    assert run.data.metrics["rows"] == 2.0
    artifacts = {a.path for a in client.list_artifacts(load.info.run_id)}
    assert any(a.endswith(".ipynb") for a in artifacts) and any(a.endswith(".html") for a in artifacts)

    # a second run where only `report` reruns records the others as skipped, made by the first
    task = tmp_path / "pipelines" / "sales" / "tasks" / "report.py"
    task.write_text(task.read_text().replace("regions = len(by_region)", "regions = len(by_region) + 0 * 1"))
    workbench("run", "pipelines/sales", "-p", "min_amount=6", cwd=tmp_path, check=True)
    second = _runs(tmp_path)[0]
    run2 = client.get_run(second["mlflow_run_id"])
    kids = client.search_runs([run2.info.experiment_id], f"tags.mlflow.parentRunId = '{run2.info.run_id}'")
    skipped = {c.data.tags["mlflow.runName"]: c.data.tags for c in kids if c.data.tags.get("workbench.status") == "skipped"}
    assert set(skipped) == {"load", "aggregate"}
    assert skipped["load"]["workbench.made_by"] == record["id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(db: Path, artifacts: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(artifacts), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("mlflow server did not start")


def _stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def test_a_run_survives_a_stopped_tracking_server_and_sync_delivers_it(tmp_path: Path, monkeypatch):
    nb = _sales_project(tmp_path / "project")
    root = nb.parent
    port = _free_port()
    server = _start_server(tmp_path / "srv.db", tmp_path / "artifacts", port)
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("WORKBENCH_TRACKING", "now")
    try:
        workbench("run", nb.name, cwd=root, check=True)
        first = _runs(root)[0]
        assert first["mlflow_run_id"]
    finally:
        _stop_server(server)

    (root / "data" / "sales.csv").write_text("region,amount\nnorth,1\nsouth,2\n")
    down = workbench("run", nb.name, cwd=root, check=True)
    assert "MLflow could not be reached" in down.stderr and "workbench sync" in down.stderr
    pending = _runs(root)[0]
    assert pending["metrics"]["total"] == 3.0 and not pending.get("mlflow_run_id")
    assert list((root / ".workbench" / "unsynced").glob("*.json"))

    server = _start_server(tmp_path / "srv.db", tmp_path / "artifacts", port)
    try:
        synced = workbench("sync", cwd=root, check=True)
        assert pending["id"] in synced.stdout
        assert "nothing to send" in workbench("sync", cwd=root, check=True).stdout
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            f"tags.`workbench.run_id` = '{pending['id']}'")
        assert len(runs) == 1
        assert runs[0].data.metrics["total"] == 3.0 and runs[0].data.metrics["regions"] == 2.0
    finally:
        _stop_server(server)


def test_background_tracking_delivers_the_run(tmp_path: Path, monkeypatch):
    """The default: the run returns at once and a detached `workbench sync` logs it."""
    monkeypatch.setenv("WORKBENCH_TRACKING", "background")
    nb = _sales_project(tmp_path)
    workbench("run", nb.name, cwd=tmp_path, check=True)
    record = _runs(tmp_path)[0]
    workbench("sync", cwd=tmp_path, check=True)  # waits for the background sync's lock
    deadline = time.time() + 120
    while not _runs(tmp_path)[0].get("mlflow_run_id") and time.time() < deadline:
        time.sleep(1)
    assert _runs(tmp_path)[0]["mlflow_run_id"]
    from mlflow.tracking import MlflowClient

    run = MlflowClient(f"sqlite:///{tmp_path}/.workbench/mlflow.db").get_run(_runs(tmp_path)[0]["mlflow_run_id"])
    assert run.data.tags["workbench.run_id"] == record["id"] and run.data.metrics["total"] == 35.0
