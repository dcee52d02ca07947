"""`workbench ci` end to end: the exported script runs in a fresh clone, and fails where it should.

A temporary git + DVC project (the DVC remote an absolute tmp folder, the default remote committed
in .dvc/config before the first run) with a churn-like notebook reading data/customers.csv. After
a run and `workbench ci`, everything is committed and cloned; `bash ci/<name>.sh` must pass in the
clone (with this repository's .venv/bin on PATH, so step 1 reuses it), then fail at validation once
the data lost a column and gained nulls, then fail at the gate once checks.yaml asks for the
impossible. Real git, DVC, pandera, subprocesses and an MLflow SQLite registry; nothing mocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from harness import workbench
from helpers import write_notebook

pytestmark = pytest.mark.slow

NAME = "churnlike"
BIN = Path(sys.executable).parent
CELLS = [
    ("seed = 3\nC = 1.0", "parameters"),
    ("import pandas as pd\nfrom sklearn.linear_model import LogisticRegression\n"
     "from sklearn.metrics import roc_auc_score\nfrom sklearn.model_selection import train_test_split", "imports"),
    ('raw = pd.read_csv("data/customers.csv")', "task:load"),
    ('X = raw[["tenure_months", "monthly_charges"]].assign(premium=(raw["plan"] == "premium").astype(int))\n'
     'y = raw["churned"]\n'
     "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed)", "task:split"),
    ("clf = LogisticRegression(C=C)\nclf.fit(X_train, y_train)", ["task:train", "model:clf"]),
    ("auc = roc_auc_score(y_test, clf.predict_proba(X_test)[:, 1])\n"
     "accuracy = float((clf.predict(X_test) == y_test).mean())", ["task:evaluate", "metrics"]),
]


def customers(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    tenure = rng.integers(1, 72, n)
    df = pd.DataFrame({"customer_id": np.arange(1, n + 1), "tenure_months": tenure,
                       "monthly_charges": rng.normal(70, 15, n).round(2),
                       "plan": rng.choice(["basic", "premium"], n)})
    df["churned"] = (rng.random(n) < 1 / (1 + np.exp(0.05 * tenure - 1))).astype(int)
    return df


def sh(*args, cwd: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def commit(repo: Path, message: str) -> None:
    sh("git", "add", "-A", cwd=repo)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message, cwd=repo)


def new_data_version(repo: Path, df: pd.DataFrame) -> None:
    """What a user does to publish new data: write it, `dvc add` (the pointer file), `dvc push`."""
    df.to_csv(repo / "data" / "customers.csv", index=False)
    sh(BIN / "dvc", "add", "-q", "data/customers.csv", cwd=repo)
    sh(BIN / "dvc", "push", "-q", "data/customers.csv.dvc", cwd=repo)


def run_ci_in_clone(repo: Path, dest: Path) -> subprocess.CompletedProcess:
    sh("git", "clone", "-q", str(repo), str(dest), cwd=repo.parent)
    assert not (dest / "data" / "customers.csv").exists(), "the data must come from DVC, not git"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "WORKBENCH_TRACKING": "off"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return sh("bash", f"ci/{NAME}.sh", cwd=dest, env=env, check=False)


def test_ci_script_passes_in_a_clone_then_stops_at_validation_then_at_the_gate(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    write_notebook(repo / f"{NAME}.ipynb", CELLS)
    (repo / "data").mkdir()
    customers().to_csv(repo / "data" / "customers.csv", index=False)
    (repo / ".gitignore").write_text(".workbench/\n.venv-ci/\n")
    sh("git", "init", "-q", cwd=repo)
    sh(BIN / "dvc", "init", "-q", cwd=repo)
    sh(BIN / "dvc", "remote", "add", "-d", "store", str(tmp_path / "dvc-remote"), cwd=repo)
    sh("git", "add", ".gitignore", ".dvc", ".dvcignore", cwd=repo)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "project", cwd=repo)

    workbench("run", f"{NAME}.ipynb", cwd=repo, check=True)
    assert (repo / "data" / "customers.csv.dvc").is_file()
    out = workbench("ci", f"pipelines/{NAME}", cwd=repo, check=True)
    for path in (f"ci/{NAME}.sh", f".github/workflows/{NAME}.yml", f"pipelines/{NAME}/checks.yaml"):
        assert f"wrote {path}" in out.stdout
    checks = (repo / "pipelines" / NAME / "checks.yaml").read_text()
    assert "- file: data/customers.csv" in checks and "plan: {type: str, nulls: 0, in: [basic, premium]}" in checks
    assert "auc: {}" in checks and "tolerance: 0.01" in checks
    workflow = (repo / ".github" / "workflows" / f"{NAME}.yml").read_text()
    assert "${{ secrets.MLFLOW_TRACKING_URI }}" in workflow and f"bash ci/{NAME}.sh" in workflow
    commit(repo, "ci")

    # 1. a fresh clone: the data comes from the DVC remote, every step passes
    ok = run_ci_in_clone(repo, tmp_path / "clone-ok")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    steps = [line for line in ok.stdout.splitlines() if line.startswith("==> [")]
    assert [s[5] for s in steps] == list("123456"), ok.stdout
    assert "data/customers.csv: ok" in ok.stdout
    assert "no registered model 'churnlike'" in ok.stdout and "gate passed" in ok.stdout
    assert "passed every step" in ok.stdout

    # 2. a new data version with a column dropped and nulls injected: stops at validation
    bad = customers().drop(columns=["plan"])
    bad.loc[:59, "tenure_months"] = np.nan
    new_data_version(repo, bad)
    commit(repo, "bad data")
    failed = run_ci_in_clone(repo, tmp_path / "clone-bad-data")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "column plan: missing column" in failed.stdout
    assert "column tenure_months: nulls: 60 of 300 rows missing (20.0%); allowed 0%" in failed.stdout
    assert "[3/6] validate" in failed.stdout and "[4/6]" not in failed.stdout

    # 3. good data again, and a gate no model can pass: stops at the gate, printing the table
    new_data_version(repo, customers())
    checks_file = repo / "pipelines" / NAME / "checks.yaml"
    checks_file.write_text(checks_file.read_text().replace("auc: {}", "auc: {min: 1.01}"))
    commit(repo, "impossible gate")
    gated = run_ci_in_clone(repo, tmp_path / "clone-gate")
    assert gated.returncode == 1, gated.stdout + gated.stderr
    assert "[4/6] run" in gated.stdout and "[5/6] gate" in gated.stdout and "[6/6]" not in gated.stdout
    assert "metric    new" in gated.stdout and "FAIL: 0.8" in gated.stdout and "< min 1.01" in gated.stdout
    assert "gate FAILED: auc" in gated.stderr

    # regenerating leaves unedited files alone; an edited script is refused, then kept as a backup
    script = repo / "ci" / f"{NAME}.sh"
    again = workbench("ci", f"pipelines/{NAME}", cwd=repo, check=True)
    assert f"unchanged ci/{NAME}.sh" in again.stdout and f"kept pipelines/{NAME}/checks.yaml" in again.stdout
    script.write_text(script.read_text().replace("set -euo pipefail", "set -euo pipefail\necho mine"))
    refused = workbench("ci", f"pipelines/{NAME}", cwd=repo)
    assert refused.returncode == 2 and "edited by hand" in refused.stderr and "--force" in refused.stderr
    assert "echo mine" in script.read_text()
    forced = workbench("ci", f"pipelines/{NAME}", "--force", cwd=repo, check=True)
    assert "kept your edited file as ci/churnlike.sh.bak-" in forced.stdout
    assert "echo mine" not in script.read_text()


def test_gate_compares_with_the_latest_registered_version(tmp_path: Path, monkeypatch, capsys) -> None:
    """A real SQLite Model Registry with two versions: the gate reads the latest one's metric tags."""
    repo = tmp_path / "p"
    pipeline = repo / "pipelines" / NAME
    pipeline.mkdir(parents=True)
    sh("git", "init", "-q", cwd=repo)
    write_notebook(repo / f"{NAME}.ipynb", CELLS)
    workbench("export", f"{NAME}.ipynb", cwd=repo, check=True)
    runs = repo / ".workbench" / "runs"
    runs.mkdir(parents=True)
    (runs / "20250101-000000-aaaaaa.json").write_text(
        '{"id": "20250101-000000-aaaaaa", "pipeline": "churnlike", "status": "FINISHED", "started": 1,'
        ' "params": {}, "metrics": {"auc": 0.80, "accuracy": 0.70}}')
    (pipeline / "checks.yaml").write_text("gate:\n  tolerance: 0.01\n  metrics:\n    auc: {}\n    accuracy: {}\n")
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for tags in ({"metric.auc": "0.50"}, {"metric.auc": "0.90", "metric.accuracy": "0.60"}):
        client.create_model_version(NAME, source=(tmp_path / "model").as_uri(), tags=tags)

    # in-process (the CLI's own main): MLflow is imported and the store open already, which saves
    # seconds of a slow test; the subprocess path is covered by the clone test above
    from workbench.cli.main import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(repo)
    code = main(["gate", f"pipelines/{NAME}"])
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    assert f"registered model {NAME} v2" in out.out
    lines = {line.split()[0]: line for line in out.out.splitlines() if line.startswith(("auc ", "accuracy "))}
    assert "0.9" in lines["auc"] and "FAIL: 0.1 worse than churnlike v2 (tolerance 0.01)" in lines["auc"]
    assert lines["accuracy"].rstrip().endswith("ok")
