"""Projects not laid out like the samples, through the real CLI: export, run, verify, package.

Each layout is a real folder (a git repository unless the point is that it is not one), with a
small CSV and a notebook that reads it relative to its own folder, fits a scikit-learn model
(`model:clf`) and reports a metric. The layouts: a notebook in a subfolder reading `../data/`, a
plain folder without git, folder, notebook and data names with spaces and accents, notebooks
whose kernelspec is absent or names a kernel not installed here (and one in R: a clear error),
and two notebooks named `model.ipynb` in different folders, whose pipelines, runs and registered
models must stay apart. One project per layout (module-scoped), so each is run once.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from harness import workbench
from helpers import write_notebook

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

pytestmark = pytest.mark.slow


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=root,
                          check=True, capture_output=True, text=True).stdout.strip()


def _commit(root: Path) -> None:
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "project")


def _csv(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=200).round(3), "b": rng.normal(size=200).round(3)})
    df["y"] = (df.a + 0.5 * df.b + rng.normal(scale=0.5, size=200) > 0).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)


def _notebook(path: Path, data: str, metadata: dict | None = None) -> Path:
    """A notebook reading `data` (relative to its folder), fitting `clf`, reporting `accuracy`."""
    return write_notebook(path, [
        ("C = 1.0", "parameters"),
        ("import pandas as pd\nfrom sklearn.linear_model import LogisticRegression", "imports"),
        (f"raw = pd.read_csv({data!r})\nX = raw[['a', 'b']]\ny = raw['y']", "task:load"),
        ("clf = LogisticRegression(C=C)\nclf.fit(X, y)", ["task:train", "model:clf"]),
        ("accuracy = float(clf.score(X, y))", ["task:evaluate", "metrics"]),
    ], metadata)


def _records(root: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (root / ".workbench" / "runs").glob("*.json")),
                  key=lambda r: r["started"])


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _registered(root: Path) -> set[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{root / '.workbench' / 'mlflow.db'}")
    return {m.name for m in client.search_registered_models()}


# --- a notebook in a subfolder, reading ../data/ -------------------------------------------------


@pytest.fixture(scope="module")
def subfolder(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sub")
    _csv(root / "analysis" / "data" / "x.csv")
    _notebook(root / "analysis" / "churn" / "model.ipynb", "../data/x.csv")
    _commit(root)
    nb = "analysis/churn/model.ipynb"
    return {"root": root, "run": workbench("run", nb, cwd=root), "verify": workbench("verify", nb, cwd=root),
            "package": workbench("package", nb, "--no-register", cwd=root)}


def test_a_notebook_in_a_subfolder_runs_verifies_and_packages(subfolder):
    root = subfolder["root"]
    _ok(subfolder["run"])
    assert (root / "pipelines" / "model" / "products" / "train" / "clf").exists()
    [record] = _records(root)  # recorded at the repository's top, not in the notebook's folder
    assert record["status"] == "FINISHED" and record["metrics"]["accuracy"] > 0.7
    assert "the pipeline reproduces the notebook" in _ok(subfolder["verify"])
    out = _ok(subfolder["package"])
    assert (root / "pipelines" / "model" / "package" / "model" / "MLmodel").is_file()
    assert "packaged run" in out


def test_a_notebook_run_from_its_own_folder_records_in_the_project(subfolder):
    root = subfolder["root"]
    folder = root / "analysis" / "churn"
    _ok(workbench("run", "model.ipynb", "-p", "C=0.5", cwd=folder))
    assert (folder / "pipelines" / "model" / "products" / "train" / "clf").exists()
    assert not (folder / ".workbench" / "runs").exists()
    assert _records(root)[-1]["params"] == {"C": 0.5}
    # its model is found from the top too: the notebook's own pipelines/ folder
    _ok(workbench("package", "analysis/churn/model.ipynb", "-o", root / "from-top", "--no-register", cwd=root))


# --- a plain folder, no git ------------------------------------------------------------------------


def test_a_plain_folder_without_git(tmp_path):
    _csv(tmp_path / "data" / "x.csv")
    _notebook(tmp_path / "nb" / "model.ipynb", "../data/x.csv")
    nb = "nb/model.ipynb"
    run = _ok(workbench("run", nb, cwd=tmp_path))
    assert "ran 3 of 3" in run
    assert _records(tmp_path)[-1]["status"] == "FINISHED"
    assert "the pipeline reproduces the notebook" in _ok(workbench("verify", nb, cwd=tmp_path))
    _ok(workbench("package", nb, "--no-register", cwd=tmp_path))
    assert (tmp_path / "pipelines" / "model" / "package" / "model" / "MLmodel").is_file()


# --- spaces and accents in folder, notebook and data names -----------------------------------------


@pytest.fixture(scope="module")
def accents(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("acc")
    folder = root / "Análisis de ventas"
    _csv(folder / "données x.csv")
    _notebook(folder / "modèle 1.ipynb", "données x.csv")
    _commit(root)
    nb = "Análisis de ventas/modèle 1.ipynb"
    return {"root": root, "nb": nb, "run": workbench("run", nb, cwd=root), "verify": workbench("verify", nb, cwd=root),
            "package": workbench("package", nb, "--no-register", cwd=root)}


def test_spaces_and_accents_in_names(accents):
    root = accents["root"]
    assert "products in pipelines/modele_1/products/" in _ok(accents["run"])  # readable, not mod_le_1
    assert "the pipeline reproduces the notebook" in _ok(accents["verify"])
    assert "pipelines/modele_1/package/" in _ok(accents["package"])
    assert _records(root)[-1]["pipeline"] == "modele_1"


def test_a_changed_input_in_an_accented_folder_reruns_its_task(accents):
    """The tasks' working directory is written escaped in pipeline.yaml (`An\\u00e1lisis`): read
    back as written, the input's folder did not exist and a change of the data went unseen."""
    root = accents["root"]
    _csv(root / "Análisis de ventas" / "données x.csv", seed=1)
    again = _ok(workbench("run", accents["nb"], cwd=root))
    assert "load" in again and "ran 3 of 3" in again, again


# --- kernelspecs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kern")
    _csv(root / "x.csv")
    _notebook(root / "conda.ipynb", "x.csv",
              {"kernelspec": {"name": "conda-env-ds-py", "display_name": "Python [conda env:ds]", "language": "python"}})
    bare = json.loads(_notebook(root / "bare.ipynb", "x.csv").read_text())
    bare["metadata"] = {}  # no kernelspec, no language_info
    (root / "bare.ipynb").write_text(json.dumps(bare))
    _commit(root)
    return root


@pytest.mark.parametrize("name", ["bare", "conda"])
def test_a_notebook_without_a_python3_kernelspec_runs(kernels, name):
    out = _ok(workbench("run", f"{name}.ipynb", cwd=kernels))
    assert "ran 3 of 3" in out
    task = (kernels / "pipelines" / name / "tasks" / "train.py").read_text()
    assert "name: python3" in task  # tasks run in Workbench's Python, whatever the notebook's kernel


def test_a_kernel_not_installed_here_verifies_with_python3_and_says_so(kernels):
    proc = workbench("verify", "conda.ipynb", cwd=kernels)
    assert "the pipeline reproduces the notebook" in _ok(proc)
    assert "warning: conda.ipynb: its kernel 'conda-env-ds-py' is not installed here" in proc.stderr
    assert "ipykernel install --user --name conda-env-ds-py" in proc.stderr


def test_a_notebook_without_kernelspec_or_language_info_verifies(kernels):
    assert "the pipeline reproduces the notebook" in _ok(workbench("verify", "bare.ipynb", cwd=kernels))


def test_a_notebook_in_another_language_is_a_clear_error(tmp_path):
    write_notebook(tmp_path / "analysis.ipynb", ["x <- read.csv('x.csv')"],
                   {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}, "language_info": {"name": "R"}})
    proc = workbench("run", "analysis.ipynb", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "error: analysis.ipynb: its language is R (kernel ir)" in proc.stderr
    assert "fix: if its code is Python, pick a Python kernel" in proc.stderr and "Traceback" not in proc.stderr


# --- two notebooks of the same name ----------------------------------------------------------------


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("twins")
    for folder, seed in (("sales", 0), ("churn", 1)):
        _csv(root / folder / "x.csv", seed)
        _notebook(root / folder / "model.ipynb", "x.csv")
    _commit(root)
    runs = {f: workbench("run", f"{f}/model.ipynb", cwd=root) for f in ("sales", "churn")}
    packages = {f: workbench("package", f"{f}/model.ipynb", cwd=root) for f in ("sales", "churn")}
    return {"root": root, "runs": runs, "packages": packages}


def test_two_notebooks_of_the_same_name_get_pipelines_of_their_own(twins):
    root = twins["root"]
    assert "products in pipelines/model/products/" in _ok(twins["runs"]["sales"])
    assert "products in pipelines/churn_model/products/" in _ok(twins["runs"]["churn"])
    names = {f: json.loads((root / "pipelines" / f / "plan.json").read_text())["name"] for f in ("model", "churn_model")}
    assert names == {"model": "model", "churn_model": "churn_model"}
    by_pipeline = {r["pipeline"]: r for r in _records(root)}
    assert set(by_pipeline) == {"model", "churn_model"}
    assert by_pipeline["churn_model"]["notebook"] == "churn/model.ipynb"
    assert by_pipeline["model"]["notebook"] == "sales/model.ipynb"
    # each is packaged from its own pipeline and registered under its own name
    assert "registered model version 1" in _ok(twins["packages"]["sales"])
    assert "registered churn_model version 1" in _ok(twins["packages"]["churn"])
    assert {"model", "churn_model"} <= _registered(root)


def test_the_second_notebook_finds_its_own_pipeline_again(twins):
    root = twins["root"]
    again = _ok(workbench("run", "churn/model.ipynb", cwd=root))
    assert "nothing to do" in again and "pipelines/churn_model" in again
    assert json.loads((root / "pipelines" / "model" / "plan.json").read_text())["notebook"] == "sales/model.ipynb"


def test_exporting_over_another_notebooks_pipeline_is_refused(twins):
    root = twins["root"]
    proc = workbench("export", "sales/model.ipynb", "-o", "pipelines/churn_model", cwd=root)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("error: pipelines/churn_model: holds the pipeline of another notebook, churn/model.ipynb; exporting "
            "sales/model.ipynb there would overwrite it") in proc.stderr
    assert "fix: give it a folder of its own: -o pipelines/model" in proc.stderr
    assert json.loads((root / "pipelines" / "churn_model" / "plan.json").read_text())["notebook"] == "churn/model.ipynb"
