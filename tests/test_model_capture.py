"""The model's rows wherever the notebook fits it: captured at run time, used by `workbench package`.

Real notebooks go through the real CLI (export, run with DVC in a git repository, package); the
packaged MLflow model is loaded back with `mlflow.pyfunc.load_model` and must score rows exactly as
the run's own model does. The cases are the ones guessing from the source could not handle: a
Ridge fitted on `train[features]` built in its own cell, GridSearchCV's best_estimator_, the best of
a loop over candidates, a Pipeline with a ColumnTransformer over raw columns (a column the model
does not use is not in the signature), and XGBoost and LightGBM models in their MLflow flavors.
The watcher itself (what is recorded, what is put back) is tested in-process below.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before anything imports mlflow

PARAMS = ("n = 600\nseed = 3\nalpha = 0.5", ["parameters"])
SALES = (
    "rng = np.random.default_rng(seed)\n"
    "sales = pd.DataFrame({'week': np.arange(n) % 52, 'price': rng.normal(10, 2, n).round(2),\n"
    "                      'promo': rng.integers(0, 2, n), 'region': rng.choice(['north', 'south'], n),\n"
    "                      'store_id': np.arange(n)})\n"
    "sales['units'] = 50 - 2 * sales['price'] + 5 * sales['promo'] + rng.normal(0, 1, n)\n"
    "sales['bought'] = (sales['units'] > sales['units'].median()).astype(int)"
)
IMPORTS = ("import numpy as np\nimport pandas as pd", ["imports"])

NOTEBOOKS = {
    # the case: the rows are an expression on a frame built in the training cell itself
    "ridge": [PARAMS, IMPORTS, (SALES, ["task:load"]),
              ("from sklearn.linear_model import Ridge\n"
               "train = sales[sales['week'] < 40].copy()\n"
               "features = ['price', 'promo']\n"
               "model = Ridge(alpha=alpha).fit(train[features], train['units'])\n"
               "train['fitted'] = model.predict(train[features])  # the frame changes after the fit",
               ["task:train", "model:model"])],
    "search": [PARAMS, IMPORTS, (SALES, ["task:load"]),
               ("from sklearn.ensemble import GradientBoostingRegressor\n"
                "from sklearn.model_selection import GridSearchCV\n"
                "search = GridSearchCV(GradientBoostingRegressor(random_state=0),\n"
                "                      {'n_estimators': [10, 20], 'max_depth': [2, 3]}, cv=3)\n"
                "search.fit(sales.drop(columns=['units', 'bought', 'region', 'store_id']), sales['units'])\n"
                "best = search.best_estimator_",
                ["task:train", "model:best"])],
    # candidates fitted in a loop, the chosen one assigned to the model variable; a metrics cell
    # with a sensitive column whose frame also holds the label and the group (fairness)
    "loop": [PARAMS, IMPORTS, ("FEATURES = ['price', 'promo', 'week']", ["functions"]), (SALES, ["task:load"]),
             ("from sklearn.linear_model import LogisticRegression\n"
              "from sklearn.metrics import roc_auc_score\n"
              "test = sales[sales['week'] >= 40]\n"
              "y_test = test['bought'].to_numpy()\n"
              "fit_rows = sales[sales['week'] < 40]\n"
              "best_auc, clf = -1.0, None\n"
              "for c in [0.01, 0.1, 1.0]:\n"
              "    candidate = LogisticRegression(C=c, max_iter=500).fit(fit_rows[FEATURES], fit_rows['bought'])\n"
              "    score = roc_auc_score(y_test, candidate.predict_proba(test[FEATURES])[:, 1])\n"
              "    if score > best_auc:\n"
              "        best_auc, clf = score, candidate",
              ["task:train", "model:clf"]),
             ("proba = clf.predict_proba(test[FEATURES])[:, 1]\nauc = roc_auc_score(y_test, proba)",
              ["task:evaluate", "metrics", "sensitive:region"])],
    # a Pipeline over raw columns: store_id is passed to fit but no transformer uses it
    "pipe": [PARAMS, IMPORTS, (SALES, ["task:load"]),
             ("from sklearn.compose import ColumnTransformer\n"
              "from sklearn.linear_model import LogisticRegression\n"
              "from sklearn.pipeline import Pipeline\n"
              "from sklearn.preprocessing import OneHotEncoder, StandardScaler\n"
              "prep = ColumnTransformer([('num', StandardScaler(), ['price', 'week']),\n"
              "                          ('cat', OneHotEncoder(), ['region'])])\n"
              "pipe = Pipeline([('prep', prep), ('clf', LogisticRegression(max_iter=500))])\n"
              "pipe.fit(sales.drop(columns=['units', 'bought', 'promo']), sales['bought'])",
              ["task:train", "model:pipe"])],
    "xgb": [PARAMS, IMPORTS, (SALES, ["task:load"]),
            ("import xgboost\n"
             "reg = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0)\n"
             "reg.fit(sales[['price', 'promo', 'week']], sales['units'])",
             ["task:train", "model:reg"])],
    "lgbm": [PARAMS, IMPORTS, (SALES, ["task:load"]),
             ("import lightgbm\n"
              "booster = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=7, random_state=0, verbose=-1)\n"
              "booster.fit(sales[['price', 'promo', 'week']].astype(float), sales['units'])",
              ["task:train", "model:booster"])],
}
PACKAGES = {"xgb": "xgboost", "lgbm": "lightgbm"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("capture")
    for name, cells in NOTEBOOKS.items():
        write_notebook(root / "notebooks" / f"{name}.ipynb", cells)
    _git(root, "init", "-q")
    _git(root, "add", "notebooks")
    _git(root, "commit", "-q", "-m", "notebooks")
    return root


def _package(project: Path, name: str) -> tuple[dict, Path]:
    """Run the notebook and package its model (no registry); the result JSON and the pipeline."""
    if name in PACKAGES:
        pytest.importorskip(PACKAGES[name])
    pipeline = project / "pipelines" / name
    if not (pipeline / "package" / "result.json").is_file():
        workbench("run", f"notebooks/{name}.ipynb", "--no-track", cwd=project, check=True)
        proc = workbench("package", f"notebooks/{name}.ipynb", "--no-register", "--json", cwd=project, check=True)
        (pipeline / "package").mkdir(exist_ok=True)
        (pipeline / "package" / "result.json").write_text(proc.stdout)
    return json.loads((pipeline / "package" / "result.json").read_text()), pipeline


def _scores_as_the_run(pipeline: Path, task: str, var: str, rows, method: str = "predict"):
    """The packaged model's answer on `rows` equals the run's own model's."""
    import mlflow.pyfunc
    import numpy as np

    from workbench.runtime import load

    model = load(pipeline / "products" / task / var)
    expected = np.asarray(getattr(model, method)(rows), dtype=float)
    got = mlflow.pyfunc.load_model(str(pipeline / "package" / "model")).predict(rows)
    got = np.asarray(got.to_numpy() if hasattr(got, "to_numpy") else got, dtype=float)
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-6, atol=1e-9)
    return model


def _signature(pipeline: Path) -> list[str]:
    from mlflow.models import Model

    return Model.load(str(pipeline / "package" / "model")).signature.inputs.input_names()


def _sales(n: int = 600, seed: int = 3):
    """The notebooks' rows, made again here."""
    import numpy as np
    import pandas as pd

    ns: dict = {"np": np, "pd": pd, "n": n, "seed": seed}
    exec(SALES, ns)  # noqa: S102 - the notebooks' own cell
    return ns["sales"]


@pytest.mark.slow
def test_ridge_fitted_on_rows_made_in_its_own_cell(project):
    result, pipeline = _package(project, "ridge")
    assert result["flavor"] == "sklearn" and result["input_columns"] == ["price", "promo"]
    assert _signature(pipeline) == ["price", "promo"]
    capture = json.loads((pipeline / "products" / "train" / "model.fit" / "fit.json").read_text())
    # the rows as they were when fit ran: the column added after the fit is not among them
    sales = _sales()
    fitted = int((sales["week"] < 40).sum())
    assert capture["columns"] == ["price", "promo"] and capture["rows"] == fitted
    assert capture["fitted_by"] == "Ridge.fit"
    _scores_as_the_run(pipeline, "train", "model", sales[["price", "promo"]].head(40))
    profile = json.loads((pipeline / "package" / "model" / "training_profile.json").read_text())
    assert set(profile["columns"]) == {"price", "promo"}
    card = (pipeline / "package" / "MODEL_CARD.md").read_text()
    assert f"{fitted}" in card  # the training rows counted over the whole fit


@pytest.mark.slow
def test_grid_search_best_estimator(project):
    result, pipeline = _package(project, "search")
    assert result["input_columns"] == ["week", "price", "promo"]
    capture = json.loads((pipeline / "products" / "train" / "best.fit" / "fit.json").read_text())
    assert capture["fitted_by"] == "GridSearchCV.fit" and "best_estimator_" in capture["found"]
    assert capture["rows"] == 600
    _scores_as_the_run(pipeline, "train", "best", _sales()[["week", "price", "promo"]].head(40))


@pytest.mark.slow
def test_the_best_of_a_loop_over_candidates_and_its_fairness_table(project):
    result, pipeline = _package(project, "loop")
    assert result["input_columns"] == ["price", "promo", "week"]
    capture = json.loads((pipeline / "products" / "train" / "clf.fit" / "fit.json").read_text())
    sales = _sales()
    assert capture["fitted_by"] == "LogisticRegression.fit" and capture["rows"] == int((sales["week"] < 40).sum())
    _scores_as_the_run(pipeline, "train", "clf", sales[["price", "promo", "week"]].head(40), "predict_proba")
    # the evaluation frame holds the label and the group too: scored on the model's columns only
    record = sorted((json.loads(p.read_text()) for p in (project / ".workbench" / "runs").glob("*.json")
                     if json.loads(p.read_text())["pipeline"] == "loop"), key=lambda r: r["started"])[-1]
    assert record["fairness"]["column"] == "region"
    assert {g["group"] for g in record["fairness"]["groups"]} == {"north", "south"}
    assert "auc_gap_region" in record["metrics"]
    assert "region" in (pipeline / "package" / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_pipeline_with_a_column_transformer_over_raw_columns(project):
    result, pipeline = _package(project, "pipe")
    # store_id went to fit but no transformer uses it: not an input of the served model
    assert result["input_columns"] == ["week", "price", "region"]
    assert _signature(pipeline) == ["week", "price", "region"]
    capture = json.loads((pipeline / "products" / "train" / "pipe.fit" / "fit.json").read_text())
    assert "store_id" in capture["columns"] and capture["inputs_from"] == "the columns ColumnTransformer uses"
    rows = _sales()[["week", "price", "region"]].head(40)
    _scores_as_the_run(pipeline, "train", "pipe", rows, "predict_proba")


@pytest.mark.slow
def test_xgboost_flavor_scores_as_in_process(project):
    result, pipeline = _package(project, "xgb")
    assert result["flavor"] == "xgboost"
    assert any(r.startswith("xgboost") for r in result["requirements"])
    mlmodel = (pipeline / "package" / "model" / "MLmodel").read_text()
    assert "xgboost:" in mlmodel
    _scores_as_the_run(pipeline, "train", "reg", _sales()[["price", "promo", "week"]].head(40))


@pytest.mark.slow
def test_lightgbm_flavor_scores_as_in_process(project):
    result, pipeline = _package(project, "lgbm")
    assert result["flavor"] == "lightgbm"
    assert any(r.startswith("lightgbm==") for r in result["requirements"])
    assert "lightgbm:" in (pipeline / "package" / "model" / "MLmodel").read_text()
    _scores_as_the_run(pipeline, "train", "booster", _sales()[["price", "promo", "week"]].astype(float).head(40))


def test_pytorch_flavor_scores_as_in_process(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed: PyPI's Linux torch wheels bring the CUDA "
                                        "libraries (gigabytes), so the test environment leaves it out")
    import numpy as np
    import torch

    from workbench.deploy.package import flavor_of, save_model, scorer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    rows = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    assert flavor_of(net, False) == "pytorch"
    score = scorer(net, "predict")
    save_model(net, "pytorch", tmp_path / "model", example=rows, output=score(rows), requirements=[],
               method="predict", columns=None, features_source=None, features_function=None, module_name="")
    import mlflow.pyfunc

    got = mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(rows)
    np.testing.assert_allclose(np.asarray(got).reshape(-1), score(rows).reshape(-1), rtol=1e-6)


def test_a_torch_module_is_captured_by_its_first_call(tmp_path):
    """A torch module has no fit: what the training loop first passes to it is its input."""
    pytest.importorskip("torch", reason="torch is not installed: PyPI's Linux torch wheels bring the CUDA "
                                        "libraries (gigabytes); `make test-torch` runs this in a venv of its own")
    import torch

    from workbench.runtime.fit_capture import read_fit, stop_watching, watch_fits

    original = torch.nn.Module.__call__
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    watcher = watch_fits()
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    optimiser = torch.optim.SGD(net.parameters(), lr=0.05)
    for _ in range(5):  # the inner Linear calls are not outermost: only the Sequential's input counts
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        optimiser.step()
    watcher.save(net, tmp_path / "t" / "net")
    assert torch.nn.Module.__call__ is original
    fit = read_fit(tmp_path / "t" / "net")
    assert fit["fitted_by"] == "Sequential.__call__" and fit["rows"] == 64 and fit["shape"] == [64, 3], fit
    stop_watching()


# --- the watcher, in-process ----------------------------------------------------------------------

def _frame(n: int = 200):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "id": np.arange(n)})
    df["y"] = 2 * df["a"] - df["b"] + rng.normal(0, 0.1, n)
    return df


def test_cross_validate_estimators_and_randomized_search(tmp_path):
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import RandomizedSearchCV, cross_validate

    from workbench.runtime.fit_capture import read_fit, watch_fits

    df = _frame()
    watcher = watch_fits()
    cv = cross_validate(Ridge(), df[["a", "b"]], df["y"], cv=4, return_estimator=True)
    watcher.save(cv["estimator"][2], tmp_path / "t" / "model")
    fit = read_fit(tmp_path / "t" / "model")
    assert fit["inputs"] == ["a", "b"] and fit["rows"] == 150  # the fold's own rows, not all 200
    assert len(fit["sample"]) == 150

    watcher = watch_fits()
    search = RandomizedSearchCV(Ridge(), {"alpha": [0.1, 1.0, 10.0]}, n_iter=2, cv=3, random_state=0)
    search.fit(df[["a", "b", "id"]], df["y"])
    watcher.save(search, tmp_path / "t" / "search")
    fit = read_fit(tmp_path / "t" / "search")
    assert fit["fitted_by"] == "RandomizedSearchCV.fit" and fit["inputs"] == ["a", "b", "id"]


def test_watching_leaves_the_notebook_and_the_libraries_as_they_were(tmp_path):
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.linear_model import Ridge

    from workbench.runtime.fit_capture import SAMPLE_ROWS, read_fit, stop_watching, watch_fits

    original = Ridge.fit
    np.random.seed(5)
    state = np.random.get_state()[1].copy()
    df = _frame(SAMPLE_ROWS + 100)
    watcher = watch_fits()
    assert Ridge.fit is not original

    class Custom(BaseEstimator):  # a class the cell defines is watched too
        def fit(self, X, y=None):
            self.n_ = len(X)
            return self

    custom = Custom().fit(df[["a"]])
    model = Ridge().fit(df[["a", "b"]].to_numpy(), df["y"])
    watcher.save(model, tmp_path / "t" / "model")
    assert Ridge.fit is original and "__init_subclass__" not in BaseEstimator.__dict__
    assert "fit" in Custom.__dict__ and not getattr(Custom.fit, "_workbench_watched", False)
    assert (np.random.get_state()[1] == state).all()  # the sample has a generator of its own
    fit = read_fit(tmp_path / "t" / "model")
    assert fit["kind"] == "ndarray" and fit["rows"] == SAMPLE_ROWS + 100 and len(fit["sample"]) == SAMPLE_ROWS
    assert fit["inputs"] is None and fit["shape"] == [SAMPLE_ROWS + 100, 2]
    assert custom.n_ == SAMPLE_ROWS + 100
    # a task that fails before its save: the runner's stop puts everything back
    watch_fits()
    assert Ridge.fit is not original
    stop_watching()
    assert Ridge.fit is original


def test_a_model_not_fitted_in_its_task_says_so(tmp_path):
    from sklearn.linear_model import Ridge

    from workbench.runtime.fit_capture import read_fit, watch_fits

    df = _frame()
    model = Ridge().fit(df[["a", "b"]], df["y"])  # before the watcher: as if loaded from a file
    watcher = watch_fits()
    watcher.save(model, tmp_path / "t" / "model")
    fit = read_fit(tmp_path / "t" / "model")
    assert fit["sample"] is None and "no fit of the model was seen" in fit["found"]
    assert fit["inputs"] == ["a", "b"]  # the model still names its inputs
