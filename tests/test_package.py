"""`workbench package` and `workbench promote` on the churn sample, against real components.

One module-scoped project (git commit, real runs with DVC, the project's SQLite MLflow registry)
is packaged once by the CLI; the packaged model is then loaded in a fresh virtual environment
without Workbench and must score raw rows exactly as the run's estimator does after the notebook's
`add_features`. A second, deliberately worse run exercises the gate of `promote`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import ROOT, workbench

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before anything imports mlflow

from workbench.deploy.model_card import CardFacts, OnnxFacts, render  # noqa: E402

UV = ROOT / ".venv" / "bin" / "uv"
RAW = ["tenure_months", "monthly_charges", "calls"]
FEATURES = ["tenure_months", "monthly_charges", "calls", "calls_per_month", "is_new"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


def _add_features(df):
    """The notebook's function, restated: the test's own reference, independent of the package code."""
    out = df.copy()
    out["calls_per_month"] = out["calls"] / out["tenure_months"].clip(lower=1)
    out["is_new"] = (out["tenure_months"] < 6).astype(int)
    return out


def _records(root: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (root / ".workbench" / "runs").glob("*.json")),
                  key=lambda r: r["started"])


def _client(root: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{root / '.workbench' / 'mlflow.db'}")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("pkg")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("output"))
    _git(root, "init", "-q")
    _git(root, "add", "notebooks")
    _git(root, "commit", "-q", "-m", "notebooks")
    workbench("run", "notebooks/churn.ipynb", "--no-track", cwd=root, check=True)
    proc = workbench("package", "notebooks/churn.ipynb", cwd=root, check=True)
    return {"root": root, "out": root / "pipelines" / "churn" / "package", "proc": proc,
            "record": _records(root)[-1], "commit": _git(root, "rev-parse", "HEAD")}


@pytest.mark.slow
def test_package_builds_the_folder(packaged):
    out, proc = packaged["out"], packaged["proc"]
    for name in ("model/MLmodel", "model/requirements.txt", "model/input_example.json", "Dockerfile",
                 "MODEL_CARD.md", "model.onnx"):
        assert (out / name).is_file(), name
    assert "registered churn version 1" in proc.stdout
    assert "saving an MLflow pyfunc model" in proc.stderr  # progress on stderr
    requirements = (out / "model" / "requirements.txt").read_text().split()
    names = {r.split("==")[0] for r in requirements}
    assert {"mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle"} <= names
    assert all("==" in r for r in requirements) and not {"workbench", "notebook-workbench"} & names
    # the feature code is shipped as source, not as a pickle of Workbench objects
    code = list((out / "model" / "code").glob("features_churn_*.py"))
    assert len(code) == 1 and "def add_features(df):" in code[0].read_text()
    from mlflow.models import Model

    # the signature is on raw rows: the label and the engineered columns are not inputs
    assert Model.load(str(out / "model")).signature.inputs.input_names() == RAW
    docker = (out / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in docker and "FROM ${BASE_IMAGE}" in docker
    assert "model/requirements.txt" in docker and "--env-manager local" in docker  # built: test_container.py


@pytest.mark.slow
def test_model_scores_raw_rows_in_a_fresh_venv_without_workbench(packaged, tmp_path):
    import numpy as np
    import pandas as pd

    from workbench.runtime import load

    root, out = packaged["root"], packaged["out"]
    raw = load(root / "pipelines" / "churn" / "products" / "load" / "raw")
    rows = raw[RAW].head(50)
    clf = load(root / "pipelines" / "churn" / "products" / "train" / "clf")
    expected = clf.predict_proba(_add_features(rows)[FEATURES])

    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "-p", sys.executable, str(venv)], check=True, timeout=60)
    subprocess.run([str(UV), "pip", "install", "-q", "-p", str(venv / "bin" / "python"), "-r",
                    str(out / "model" / "requirements.txt")], check=True, timeout=120)
    rows.to_json(tmp_path / "rows.json", orient="split")
    script = (
        "import importlib.util, json, sys\n"
        "import mlflow.pyfunc, numpy as np, pandas as pd\n"
        "assert importlib.util.find_spec('workbench') is None, 'workbench is installed here'\n"
        f"rows = pd.read_json({str(tmp_path / 'rows.json')!r}, orient='split')\n"
        f"model = mlflow.pyfunc.load_model({str(out / 'model')!r})\n"
        "print(json.dumps(np.asarray(model.predict(rows)).tolist()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(venv / "bin" / "python"), "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr
    got = np.asarray(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert got.shape == (50, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert isinstance(rows, pd.DataFrame)


@pytest.mark.slow
def test_onnx_parity(packaged):
    import numpy as np
    import onnxruntime as ort

    from workbench.runtime import load

    products = packaged["root"] / "pipelines" / "churn" / "products"
    X_test = load(products / "split" / "X_test")
    clf = load(products / "train" / "clf")
    session = ort.InferenceSession(str(packaged["out"] / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    proba = session.run(None, {"input": X_test.to_numpy(np.float32)})[names.index("probabilities")]
    assert np.max(np.abs(proba - clf.predict_proba(X_test))) < 1e-4
    assert "parity passed" in packaged["proc"].stdout
    assert "parity passed" in (packaged["out"] / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_model_card_and_registration_tags(packaged):
    record, root = packaged["record"], packaged["root"]
    card = (packaged["out"] / "MODEL_CARD.md").read_text()
    assert "retention team" in card  # intended use, from the notebook's first markdown cell
    assert record["id"] in card and packaged["commit"] in card and record["notebook_sha256"] in card
    assert record["data"]["pipelines/churn/products"] in card
    assert f"| auc | {record['metrics']['auc']:.6g} |" in card
    assert "| n_estimators | 100 |" in card

    tags = _client(root).get_model_version("churn", "1").tags
    assert tags["workbench.run_id"] == record["id"]
    assert tags["workbench.pipeline"] == "churn"
    assert tags["git.commit"] == packaged["commit"]
    assert tags["notebook"] == "notebooks/churn.ipynb"
    assert tags["notebook.sha256"] == record["notebook_sha256"]
    assert tags["data.pipelines/churn/products"] == record["data"]["pipelines/churn/products"]
    assert {k: float(v) for k, v in tags.items() if k.startswith("metric.")} == \
        {f"metric.{k}": v for k, v in record["metrics"].items()}


@pytest.mark.slow
def test_promote_gate_force_rollback_and_package_of_an_earlier_run(packaged, tmp_path):
    from workbench.deploy.package import package
    from workbench.deploy.registry import RegistryError, promote
    from workbench.runtime import load

    root = packaged["root"]
    first = packaged["record"]
    client = _client(root)
    # no holder yet: version 1 becomes champion
    result = promote("churn", "champion", root, version="1")
    assert result.moved and result.previous is None

    # a clearly worse model: one tiny boosting step
    workbench("run", "notebooks/churn.ipynb", "--no-track", "-p", "n_estimators=1", "-p", "learning_rate=0.01",
              cwd=root, check=True)
    worse = _records(root)[-1]
    assert worse["metrics"]["auc"] < first["metrics"]["auc"] - 0.01
    cwd = Path.cwd()
    os.chdir(root)
    try:
        second = package(Path("notebooks/churn.ipynb"))
    finally:
        os.chdir(cwd)
    assert second.version == "2" and second.run_id == worse["id"]

    refused = workbench("promote", "churn", "--alias", "champion", cwd=root)
    assert refused.returncode == 1, refused.stderr
    assert "auc" in refused.stdout and "FAIL" in refused.stdout and "champion" in refused.stdout
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"

    with pytest.raises(RegistryError, match="--force needs a --reason"):
        promote("churn", "champion", root, force=True)
    forced = workbench("promote", "churn", "--alias", "champion", "--force", "--reason", "demo of an override",
                       cwd=root, check=True)
    assert "-> version 2" in forced.stdout
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "2"
    assert client.get_model_version("churn", "2").tags["workbench.promoted_by_force"] == "demo of an override"

    back = promote("churn", "champion", root, rollback=True)  # the CLI prints "version 2 -> 1"
    assert back.moved and back.rollback and (back.previous, back.version) == ("2", "1")
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"

    # --run: the products on disk are the worse run's; packaging the first restores them
    cwd = Path.cwd()
    os.chdir(root)
    try:
        again = package(Path("pipelines/churn"), run_id=first["id"], output=tmp_path / "again", register=True)
    finally:
        os.chdir(cwd)
    # its model was registered once already: the same version, not a new one
    assert again.restored == ["pipelines/churn/products"] and again.version == "1"
    assert len(client.search_model_versions("name = 'churn'")) == 2
    assert load(root / "pipelines" / "churn" / "products" / "train" / "clf").n_estimators == 100
    assert "| n_estimators | 100 |" in (tmp_path / "again" / "MODEL_CARD.md").read_text()


def _facts(**changes) -> CardFacts:
    base = dict(name="churn", title="Customer churn", description="Rank accounts by churn risk.", pipeline="churn",
                run_id="20260101-000000-abcdef", flavor="pyfunc", model_variable="clf",
                model_class="sklearn.ensemble.GradientBoostingClassifier", output="class probabilities",
                input_columns=["calls"], features_function="add_features", params={"seed": 7},
                metrics={"auc": 0.71234567}, metrics_task="evaluate", data={"pipelines/churn/products": "ab12.dir"},
                git_commit="c0ffee", git_dirty=False, notebook="notebooks/churn.ipynb", notebook_sha256="f00d",
                training_rows=3750, ranges={"calls": (0, 11)},
                onnx=OnnxFacts(path="model.onnx", passed=True, max_abs_diff=1e-7, tolerance=1e-4, rows=10,
                               compared="predict_proba"))
    base.update(changes)
    return CardFacts(**base)


def test_model_card_renders_every_section():
    card = render(_facts())
    for heading in ("## Intended use", "## The model", "## Metrics", "## Parameters", "## Training data",
                    "## Limitations", "## Lineage"):
        assert heading in card
    assert "Rank accounts by churn risk." in card
    assert "| auc | 0.712346 |" in card and "| seed | 7 |" in card
    assert "`pipelines/churn/products` | `ab12.dir`" in card
    assert "calls 0..11" in card and "3750 rows" in card
    assert "parity passed on 10 training rows" in card
    assert "`c0ffee`" in card and "`f00d`" in card


def test_model_card_says_what_is_missing():
    card = render(_facts(metrics={}, data={}, git_commit=None, git_dirty=None, description="",
                         onnx=OnnxFacts(reason="RandomThing is not a scikit-learn estimator")))
    assert "No metrics were recorded" in card and "quality is unmeasured" in card
    assert "--no-version" in card
    assert "not recorded (not a git commit)" in card
    assert "none: RandomThing is not a scikit-learn estimator" in card
    assert "the notebook has no description" in card
    dirty = render(_facts(git_dirty=True))
    assert "+ uncommitted changes" in dirty and "uncommitted changes: the commit alone" in dirty


def test_features_module_ships_the_function_and_what_it_reads(make_notebook):
    from workbench.deploy.package import features_module
    from workbench.refactor.notebook import read_notebook
    from workbench.refactor.planner import build_plan

    path = make_notebook([
        ("scale = 2", ["parameters"]),
        ("import numpy as np\nimport json", ["imports"]),
        ("OFFSET = 1\nUNUSED = 3\n\ndef helper(x):\n    return np.log1p(x) + OFFSET\n\n"
                 "def feats(df):\n    out = df.copy()\n    out['y'] = helper(out['x']) * scale\n    return out",
         ["functions"]),
        ("import pandas as pd\nraw = pd.DataFrame({'x': [1.0, 2.0]})", ["task:load"]),
        ("data = feats(raw)\nmodel = data", ["task:train", "model:model", "features:feats"]),
    ])
    plan = build_plan(read_notebook(str(path)))
    train = plan.task("train")
    source, modules = features_module(plan, "feats", {"scale": 5}, min(train.code_cells))
    assert "scale = 5  # parameter of the run" in source
    assert "import numpy as np" in source and "import json" not in source
    assert "OFFSET = 1" in source and "UNUSED" not in source
    assert "def helper(x):" in source and "def feats(df):" in source
    assert modules == ["numpy"]
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - the generated module must run on its own
    import pandas as pd

    assert namespace["feats"](pd.DataFrame({"x": [0.0]}))["y"].tolist() == [5.0]
