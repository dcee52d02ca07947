"""`workbench score`: batch scoring with the real churn package (the notebook run, `workbench package`,
registered as churn/1 in the project's MLflow registry), real CSV and Parquet files, the request log
read by a real `workbench monitor`, and Dask with real `dask worker` processes.

Every check compares with the packaged model loaded in-process (`mlflow.pyfunc.load_model`), whose
predict applies the packaged feature function: batch scores must equal it row for row.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from harness import ROOT, workbench
from harness import workbench as workbench_cli
from test_dask import _dask_cluster

pytestmark = pytest.mark.slow

RULES = "alerts:\n  - drift > 0.2 on any feature\n"


def customers(n: int, seed: int, charge_shift: float = 0.0, calls_rate: float = 3.0) -> pd.DataFrame:
    """Raw rows as the churn notebook makes them (other seeds), optionally drifted."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure_months": rng.integers(0, 72, n),
                         "monthly_charges": rng.normal(70 + charge_shift, 20, n).round(2),
                         "calls": rng.poisson(calls_rate, n)})


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """A project with the churn model packaged and registered, input files, and in-process scores."""
    import mlflow.pyfunc

    root = tmp_path_factory.mktemp("score")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("output", "gpu_*"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    workbench("run", "notebooks/churn.ipynb", "-p", "n_estimators=30", "--no-version", "--no-track", cwd=root,
              check=True)
    workbench("package", "pipelines/churn", cwd=root, check=True)
    (root / "data" / "daily").mkdir(parents=True)
    parts = [customers(700, seed=1), customers(450, seed=2)]
    parts[0].to_csv(root / "data" / "daily" / "2026-11-01.csv", index=False)
    parts[1].to_csv(root / "data" / "daily" / "2026-11-02.csv", index=False)
    big = customers(2500, seed=3)
    big.to_parquet(root / "data" / "big.parquet", row_group_size=400)
    (root / "rules.yaml").write_text(RULES)
    model = mlflow.pyfunc.load_model(str(root / "pipelines/churn/package/model"))
    folder = pd.concat(parts, ignore_index=True)
    return {"root": root, "folder": folder, "big": big,
            "expected_folder": np.asarray(model.predict(folder)), "expected_big": np.asarray(model.predict(big))}


def _predictions(frame: pd.DataFrame) -> np.ndarray:
    return frame[[c for c in frame.columns if c.startswith("prediction")]].to_numpy()


def _logged(root, name: str = "churn") -> list[dict]:
    lines = []
    for path in sorted((root / ".workbench" / "serving" / name).glob("batch-*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines


def test_csv_folder_scored_in_chunks_equals_the_model_in_process(packaged):
    root = packaged["root"]
    proc = workbench("score", "churn", "data/daily", "-o", "out/daily.csv", "--chunk-rows", "300",
                     "--events", "jsonl", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "score_progress"]
    assert [e["rows"] for e in progress] == [300, 600, 700, 1000, 1150], progress  # chunks per file
    finished = next(e for e in events if e["event"] == "score_finished")
    assert finished["rows"] == 1150 and finished["model"] == "churn/1" and finished["log"]
    out = pd.read_csv(root / "out" / "daily.csv")
    assert list(out.columns[:3]) == ["tenure_months", "monthly_charges", "calls"]
    pd.testing.assert_frame_equal(out[packaged["folder"].columns], packaged["folder"], check_dtype=False)
    assert np.allclose(_predictions(out), packaged["expected_folder"], rtol=0, atol=1e-12)
    assert not list((root / "out").glob(".*partial*")), "the partial file was renamed"


def test_parquet_file_through_the_api_and_the_request_log(packaged):
    import os

    import workbench

    root = packaged["root"]
    seen = []
    stores = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    before = {k: os.environ.get(k) for k in stores}
    result = workbench.score("churn/1", root / "data" / "big.parquet",
                             root / "out" / "big.parquet", chunk_rows=1000, root=root, on_event=seen.append)
    # loading the registered model leaves the caller's MLflow settings alone (it set MLFLOW_TRACKING_URI
    # for the rest of the process, and for every process started after it)
    assert {k: os.environ.get(k) for k in stores} == before
    assert result.rows == 2500 and result.chunks == 3 and result.rows_per_s > 0
    assert [e.total_rows for e in seen if e.kind == "score_progress"] == [2500] * 3
    out = pd.read_parquet(root / "out" / "big.parquet")
    assert np.allclose(_predictions(out), packaged["expected_big"], rtol=0, atol=1e-12)
    lines = [line for line in _logged(root) if line["source"].endswith("big.parquet")]
    assert sum(line["n_rows"] for line in lines) == 2500 and {line["role"] for line in lines} == {"batch"}
    assert all(line["model"] == "churn/1" and line["status"] == 200 for line in lines)
    first = lines[0]
    assert first["inputs"]["columns"] == ["tenure_months", "monthly_charges", "calls"]
    assert np.allclose(np.asarray(first["predictions"]), packaged["expected_big"][:1000], atol=1e-12)


def test_monitor_sees_batch_drift(packaged):
    """In-process (the CLI is the first test's): monitor reads the batch lines as it reads served ones."""
    import time

    import workbench
    from workbench.monitor.report import monitor

    root = packaged["root"]
    calm = monitor("churn", root, rules_file=root / "rules.yaml", track=False)
    assert not calm.alerts and calm.service.rows >= 3650, (calm.alerts, calm.service)
    since = time.time()
    time.sleep(0.05)
    customers(1500, seed=9, charge_shift=45.0, calls_rate=8.0).to_csv(root / "data" / "drifted.csv", index=False)
    workbench.score("churn", root / "data" / "drifted.csv", root / "out" / "drifted.parquet", root=root)
    drifted = monitor("churn", root, since=f"{since:.3f}", rules_file=root / "rules.yaml", track=False)
    assert drifted.service.rows == 1500, drifted.service
    assert any("monthly_charges" in str(a) for a in drifted.alerts), drifted.alerts


def test_dask_executor_on_real_workers_gives_the_local_scores(packaged, tmp_path):
    import workbench

    root = packaged["root"]
    with _dask_cluster(tmp_path, {"w1": ([], []), "w2": ([], [])}) as address:
        parts = workbench.score("churn", root / "data" / "daily", root / "out" / "dask_parts", executor="dask",
                                scheduler=address, chunk_rows=300, root=root)
        big = workbench.score("churn", root / "data" / "big.parquet", root / "out" / "dask_big.parquet",
                              executor="dask", scheduler=address, chunk_rows=800, log=False, root=root)
    assert parts.executor == "dask" and parts.rows == 1150 and parts.logged_rows == 1150 and big.log is None
    files = sorted((root / "out" / "dask_parts").glob("part-*.parquet"))
    assert len(files) == 2  # one CSV block per file (they are small)
    out = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    pd.testing.assert_frame_equal(out[packaged["folder"].columns], packaged["folder"], check_dtype=False)
    assert np.allclose(_predictions(out), packaged["expected_folder"], rtol=0, atol=1e-12)
    assert big.chunks == 4  # row groups of 400 gathered to >= 800 rows: 2+2+2+1
    scored = pd.read_parquet(root / "out" / "dask_big.parquet")
    assert np.allclose(_predictions(scored), packaged["expected_big"], rtol=0, atol=1e-12)


def test_bad_input_is_named(packaged):
    import workbench
    from workbench.core.errors import WorkbenchError

    root = packaged["root"]
    (root / "data" / "notes.txt").write_text("x")
    proc = workbench_cli("score", "nope", "data/big.parquet", "-o", "out/x.csv", cwd=root)
    assert proc.returncode == 2 and "no registered model named 'nope'" in proc.stderr and "fix:" in proc.stderr
    data = root / "data"
    for given, output, words in ((data / "missing.csv", root / "x.csv", "no such file"),
                                 (data / "notes.txt", root / "x.csv", "not a CSV or Parquet"),
                                 (data / "big.parquet", data / "big.parquet", "is one of the inputs")):
        with pytest.raises(WorkbenchError, match=words) as caught:
            workbench.score("churn", given, output, root=root)
        assert caught.value.hint, caught.value
    with pytest.raises(WorkbenchError, match="--chunk-rows 0"):
        workbench.score("churn", data / "big.parquet", root / "x.csv", chunk_rows=0, root=root)
