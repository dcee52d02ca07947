"""`workbench rerun` (the notebook itself through papermill, tracked like a pipeline run) and
parameter sweeps of notebooks and pipelines, through the real CLI with real kernels, a real MLflow
store (the embedded SQLite one) and real git."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from harness import workbench

pytestmark = pytest.mark.slow

SMALL = ("-p", "n_customers=500", "-p", "n_estimators=10")


def _git(root: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "start"],
                   cwd=root, check=True)


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri="sqlite:///" + str(root / ".workbench" / "mlflow.db"))


def _records(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (root / ".workbench" / "runs").glob("*.json")]


def test_bad_parameters_fail_at_once_with_the_valid_list(project: Path):
    (project / "sweep.yaml").write_text("n_estimators: [10, many]\n")
    cases = [
        (("rerun", "notebooks/churn.ipynb", "-p", "n_estimatorz=10"), "unknown parameter 'n_estimatorz'"),
        (("rerun", "notebooks/churn.ipynb", "-p", "n_estimators=abc"), "parameter 'n_estimators' expects int, got 'abc'"),
        (("rerun", "notebooks/churn.ipynb", "-p", "n_estimators=10,abc"), "expects int, got 'abc'"),
        (("run", "notebooks/churn.ipynb", "-p", "learning_rate=0.1,fast"), "parameter 'learning_rate' expects float, got 'fast'"),
        (("run", "notebooks/churn.ipynb", "--grid", "sweep.yaml"), "expects int, got 'many'"),
    ]
    for args, expected in cases:
        started = time.perf_counter()
        proc = workbench(*args, cwd=project)
        elapsed = time.perf_counter() - started
        assert proc.returncode == 2, (args, proc.stderr)
        assert expected in proc.stderr, (args, proc.stderr)
        assert "valid parameters: n_customers (int, default 5000), seed (int" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert elapsed < 1.0, (args, elapsed)  # a kernel alone takes seconds to start
    assert not (project / "pipelines").exists()  # nothing exported, built or run
    assert not (project / ".workbench").exists()


def test_a_failing_cell_names_notebook_cell_and_line(make_notebook, tmp_path: Path):
    make_notebook([("limit = 3", "parameters"), "a = 1", "b = a + 1\nraise ValueError(f'too big: {b}')"])
    proc = workbench("rerun", "nb.ipynb", "-p", "limit=4", "--no-version", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"error: nb\.ipynb, cell 2 \(id c002\), line 2: the notebook failed: ValueError: too big: 2",
                     proc.stderr), proc.stderr
    [record] = _records(tmp_path)
    assert record["status"] == "FAILED" and record["kind"] == "notebook" and record["params"] == {"limit": 4}
    executed = json.loads(Path(record["executed_notebook"]).read_text())
    assert not any("_workbench" in "".join(c["source"]) for c in executed["cells"])


def test_rerun_and_pipeline_sweep_are_tracked_like_pipeline_runs(project: Path):
    from workbench.provenance.tracking import TAG_KIND, TAG_PARENT, TAG_SWEEP_ID

    _git(project)
    out = project / "churn-rerun.ipynb"
    rerun = workbench("rerun", "notebooks/churn.ipynb", *SMALL, "-o", out, "--tracking", "now", cwd=project, check=True)
    workbench("run", "notebooks/churn.ipynb", *SMALL, "--tracking", "now", cwd=project, check=True)

    # the executed notebook: the injected parameters, the outputs, nothing of Workbench
    cells = json.loads(out.read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "n_customers = 500" in "".join(injected[0]["source"])
    assert not any("workbench" in json.dumps(c["metadata"]) or "_workbench" in "".join(c["source"]) for c in cells)
    assert any("AUC=" in "".join(o.get("text", "")) for c in cells for o in c.get("outputs", []))

    # the same experiment, parameter and metric names (and, same seed, values) as the pipeline run
    client = _client(project)
    experiment = client.get_experiment_by_name("workbench/churn")
    assert experiment is not None, ([e.name for e in client.search_experiments()], rerun.stdout, rerun.stderr)
    runs = {r.data.tags[TAG_KIND]: r for r in client.search_runs([experiment.experiment_id])
            if TAG_PARENT not in r.data.tags}
    notebook, pipeline = runs["notebook"], runs["pipeline"]
    assert notebook.data.params == pipeline.data.params
    assert set(notebook.data.metrics) == set(pipeline.data.metrics) == {"auc", "accuracy"}
    assert notebook.data.metrics == pytest.approx(pipeline.data.metrics)
    assert notebook.info.run_id in rerun.stdout
    for tag in ("git.commit", "workbench.notebook_sha256", "workbench.pipeline"):
        assert notebook.data.tags[tag] == pipeline.data.tags[tag]
    artifacts = {a.path for a in client.list_artifacts(notebook.info.run_id)}
    assert {"churn-rerun.ipynb", "churn-rerun.html", "workbench_run.json"} <= artifacts
    listing = workbench("runs", cwd=project, check=True).stdout
    assert re.search(r"churn\s+notebook\s+FINISHED", listing) and re.search(r"churn\s+pipeline\s+FINISHED", listing)

    # a 2x2 sweep of the pipeline, two at a time, each combination in its own copy
    sweep = workbench("run", "pipelines/churn", "-p", "n_customers=500", "-p", "learning_rate=0.05,0.2",
                      "-p", "n_estimators=5,10", "--jobs", "2", "--rank", "auc", "--tracking", "now",
                      cwd=project, check=True)
    assert re.search(r"\[4/4\] learning_rate=0\.\d+ n_estimators=\d+: auc=", sweep.stderr), sweep.stderr
    members = [r for r in _records(project) if r.get("sweep_id")]
    assert len(members) == 4 and len({r["sweep_id"] for r in members}) == 1
    assert {(r["params"]["learning_rate"], r["params"]["n_estimators"]) for r in members} == \
        {(0.05, 5), (0.05, 10), (0.2, 5), (0.2, 10)}
    by_id = {r["id"]: r for r in members}
    table = [line.split() for line in sweep.stdout.splitlines() if re.match(r"^\d+\s+\d{8}-", line)]
    assert sorted(row[1] for row in table) == sorted(by_id)
    ranked = [by_id[row[1]]["metrics"]["auc"] for row in table]
    assert ranked == sorted(ranked, reverse=True) and len(set(ranked)) > 1
    for row in table:  # the table shows each run's own parameters and metric
        record = by_id[row[1]]
        assert (float(row[2]), int(row[3])) == (record["params"]["learning_rate"], record["params"]["n_estimators"])
        assert float(row[4]) == pytest.approx(record["metrics"]["auc"], abs=1e-4)
        # upstream products that no swept parameter reaches came from the pipeline folder
        ran = {t["name"] for t in record["tasks"] if t["status"] == "ran"}
        assert ran == {"train", "evaluate"}, record["tasks"]
    # no combination overwrote another's products: each copy holds the auc its own run recorded
    from workbench.runtime import load

    for record in members:
        copy = next(Path(t["notebook"]).parents[1] for t in record["tasks"] if t["status"] == "ran")
        assert copy.parent.parent.name == "sweeps" and copy.is_relative_to(project / "pipelines/churn/.workbench")
        assert load(copy / "products/evaluate/auc") == pytest.approx(record["metrics"]["auc"])
    assert len({Path(t["notebook"]).parents[1] for r in members for t in r["tasks"] if t["status"] == "ran"}) == 4

    # MLflow: one sweep parent with the four runs nested under it, each with its task runs
    sweep_runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_KIND}` = 'sweep'")
    assert len(sweep_runs) == 1
    parent = sweep_runs[0]
    children = client.search_runs([experiment.experiment_id], f"tags.`{TAG_PARENT}` = '{parent.info.run_id}'")
    assert sorted(c.data.tags["workbench.run_id"] for c in children) == sorted(by_id)
    assert all(c.data.tags[TAG_SWEEP_ID] == parent.data.tags["workbench.run_id"] for c in children)
    assert all(c.data.tags[TAG_KIND] == "pipeline" for c in children)
    tasks = client.search_runs([experiment.experiment_id], f"tags.`{TAG_PARENT}` = '{children[0].info.run_id}'")
    assert {t.data.tags["workbench.task"] for t in tasks} == {"load", "features", "split", "train", "evaluate"}
    best = max(members, key=lambda r: r["metrics"]["auc"])
    assert parent.data.metrics["auc"] == pytest.approx(best["metrics"]["auc"])


def test_notebook_sweep_ranks_and_keeps_each_executed_notebook(project: Path):
    _git(project)
    proc = workbench("rerun", "notebooks/churn.ipynb", "-p", "n_customers=500", "-p", "n_estimators=5,10",
                     "--jobs", "2", "--rank", "accuracy:lower", cwd=project, check=True)
    records = {r["id"]: r for r in _records(project)}
    assert len(records) == 2 and all(r["kind"] == "notebook" for r in records.values())
    table = [line.split() for line in proc.stdout.splitlines() if re.match(r"^\d+\s+\d{8}-", line)]
    assert "ranked by accuracy (lower is better)" in proc.stdout
    assert sorted(row[1] for row in table) == sorted(records)
    ranked = [records[row[1]]["metrics"]["accuracy"] for row in table]
    assert ranked == sorted(ranked)  # lower is better: ascending (ties keep the grid's order)
    for record in records.values():
        cells = json.loads(Path(record["executed_notebook"]).read_text())["cells"]
        injected = "".join(next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))["source"])
        assert f"n_estimators = {record['params']['n_estimators']}" in injected
    assert "[2/2]" in proc.stderr
