"""Closing the loop, end to end with real components: the churn model packaged and served
(`workbench serve`, MLflow's scoring server), Prometheus `/metrics`, a stream of requests from the
training distribution (no alert) then a drifted one (an alert naming the drifted features), the
retrain path producing a new registered version, and a deliberately unfair model failing the
fairness gate with the per-group table.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from harness import ROOT, workbench
from helpers import webhook
from test_serve import Server, split

pytestmark = pytest.mark.slow

RULES = "alerts:\n  - drift > 0.2 on any feature\n  - error rate > 5%\n"


def customers(n: int, seed: int, charge_shift: float = 0.0, calls_rate: float = 3.0) -> pd.DataFrame:
    """Raw rows as the churn notebook makes them (other seeds), optionally drifted."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "tenure_months": rng.integers(0, 72, n),
        "monthly_charges": rng.normal(70 + charge_shift, 20, n).round(2),
        "calls": rng.poisson(calls_rate, n),
    })


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitor")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("output", "gpu_*"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    workbench("run", "notebooks/churn.ipynb", "-p", "n_estimators=30", "--no-version", cwd=root, check=True)
    packaged = workbench("package", "pipelines/churn", cwd=root, check=True)
    assert (root / "pipelines/churn/package/model/training_profile.json").is_file(), packaged.stdout
    (root / "rules.yaml").write_text(RULES)
    server = Server(root, "churn", "--no-track", track=False)
    try:
        yield root, server
    finally:
        server.kill()


def send(url: str, frame: pd.DataFrame, batch: int = 25) -> None:
    with requests.Session() as http:
        for lo in range(0, len(frame), batch):
            reply = http.post(url + "/invocations", json=split(frame.iloc[lo:lo + batch]), timeout=30)
            assert reply.status_code == 200, reply.text


def test_served_predictions_equal_the_packaged_model_in_process(served):
    import mlflow.pyfunc

    root, server = served
    rows = customers(30, seed=10)
    reply = requests.post(server.url + "/invocations", json=split(rows), timeout=30)
    assert reply.status_code == 200 and reply.headers["X-Workbench-Model"] == "churn/1", reply.text
    local = mlflow.pyfunc.load_model(str(root / "pipelines/churn/package/model")).predict(rows)
    assert np.allclose(np.asarray(reply.json()["predictions"]), np.asarray(local), atol=1e-12)


def test_metrics_and_no_alert_on_the_training_distribution(served):
    root, server = served
    send(server.url, customers(1000, seed=11))
    time.sleep(1.0)  # the request log is written by a background thread
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'workbench_requests_total{model="churn/1",role="primary",status="200"} 41.0' in metrics, metrics[:2000]
    assert "workbench_request_latency_seconds_bucket" in metrics
    assert "workbench_feature_monthly_charges_bucket" in metrics and "workbench_prediction_bucket" in metrics
    rows = [line for line in metrics.splitlines() if line.startswith("workbench_rows_total")]
    assert rows and rows[0].endswith(" 1030.0"), rows
    proc = workbench("monitor", "churn", "--rules", "rules.yaml", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no alert" in proc.stdout and "ALERT" not in proc.stderr
    assert "41 request(s), 1030 row(s)" in proc.stdout, proc.stdout


def test_a_drifted_stream_raises_an_alert_naming_the_features(served):
    root, server = served
    since = time.time()
    time.sleep(0.05)
    send(server.url, customers(1000, seed=12, charge_shift=45.0, calls_rate=8.0))
    time.sleep(1.0)
    with webhook() as (url, received):
        proc = workbench("monitor", "churn", "--rules", "rules.yaml", "--since", f"{since:.3f}", "--webhook", url,
                         cwd=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert len(received) == 1 and received[0]["model"] == "churn/1", received
    assert any("monthly_charges" in a for a in received[0]["alerts"]), received
    alerts = [line for line in proc.stderr.splitlines() if line.startswith("ALERT:")]
    drifted = {line.rsplit(": ", 1)[1].split(" =")[0] for line in alerts}
    assert {"monthly_charges", "calls"} <= drifted and "tenure_months" not in drifted, proc.stderr
    report = Path(proc.stdout.split("report: ")[1].split()[0])
    report = report if report.is_absolute() else root / report
    html = report.read_text()
    assert "monthly_charges" in html and "data:image/png;base64," in html
    assert (report.parent / "drift_monthly_charges.png").is_file()


def test_retrain_on_alert_registers_and_proposes_a_new_version(served):
    root, server = served
    proc = workbench("monitor", "churn", "--rules", "rules.yaml", "--since", "10m", "--retrain", cwd=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the alert still stands
    assert "retrain: proposed churn/2 as challenger" in proc.stdout, proc.stdout + proc.stderr
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{root / '.workbench' / 'mlflow.db'}")
    version = client.get_model_version_by_alias("churn", "challenger")
    assert str(version.version) == "2" and version.tags["workbench.run_id"]
    runs = client.search_runs([client.get_experiment_by_name("workbench/monitor/churn").experiment_id])
    assert any("proposed" in json.loads(r.data.tags.get("workbench.retrain", "{}")).get("outcome", "")
               for r in runs)


UNFAIR_TRAIN = """rng_labels = np.random.default_rng(seed + 1)
noisy = X_train["is_new"] == 1
y_fit = y_train.copy()
y_fit[noisy] = rng_labels.permutation(y_fit[noisy].to_numpy())
clf = GradientBoostingClassifier(learning_rate=learning_rate, n_estimators=n_estimators, random_state=seed)
clf.fit(X_train, y_fit)"""


def test_an_unfair_model_fails_the_fairness_gate_with_the_table(tmp_path):
    nb = json.loads((ROOT / "notebooks" / "churn.ipynb").read_text())
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "task:train" in tags:
            cell["source"] = UNFAIR_TRAIN
        if "task:evaluate" in tags:
            tags.append("sensitive:is_new")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "churn.ipynb").write_text(json.dumps(nb))
    run = workbench("run", "notebooks/churn.ipynb", "-p", "n_estimators=30", "--no-version", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "auc by is_new:" in run.stdout and "largest gap" in run.stdout, run.stdout
    (tmp_path / "pipelines" / "churn" / "checks.yaml").write_text(
        "gate:\n  metrics:\n    auc_gap_is_new: {max: 0.1}\n")
    gate = workbench("gate", "pipelines/churn", cwd=tmp_path)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    table = gate.stdout + gate.stderr
    assert "auc_gap_is_new" in table and "FAIL" in table and "> max 0.1" in table, table
    # the model card shows the per-group table
    workbench("package", "pipelines/churn", "--no-register", cwd=tmp_path, check=True)
    card = (tmp_path / "pipelines" / "churn" / "package" / "MODEL_CARD.md").read_text()
    assert "## Fairness" in card and "`is_new`" in card and "| group | rows | auc | positive rate |" in card, card
    assert re.search(r"^\| 1 \| \d+ \| 0\.\d+ \|", card, re.M), card
