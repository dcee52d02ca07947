"""Secret-looking parameters: never in generated files, run records, MLflow or executed notebooks;
their value comes from the environment (`api_token` <- $API_TOKEN)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness import workbench
from helpers import write_notebook

from workbench.core.secrets import is_secret, masked, scrub_text

SECRET = "hunter2-very-secret"
ENV_SECRET = "from-the-environment-42"


@pytest.mark.parametrize("name", ["password", "db_password", "api_token", "API_KEY", "secret", "aws_secret_key",
                                  "credentials", "auth_token", "passwd", "key"])
def test_secret_names(name):
    assert is_secret(name)


@pytest.mark.parametrize("name", ["n_estimators", "monkey", "keyboard_layout", "tokenizer_name", "passes",
                                  "learning_rate", "keys_to_keep"])
def test_ordinary_names(name):
    assert not is_secret(name)


def test_masking_and_scrubbing():
    assert masked({"password": "x", "n": 3, "token": None}) == {"password": "****", "n": 3, "token": None}
    assert SECRET not in scrub_text(f"password = '{SECRET}'\nprint({SECRET!r})", [SECRET])


@pytest.mark.slow
def test_a_secret_parameter_leaks_nowhere(tmp_path: Path):
    write_notebook(tmp_path / "nb.ipynb", [
        (f"n = 3\napi_token = '{SECRET}'", "parameters"),
        ("length = len(api_token) + n", "task:a"),
        ("report = length * 2", ["task:b", "metrics"]),
    ])
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    exported = workbench("export", "nb.ipynb", cwd=tmp_path, check=True)
    pipeline = tmp_path / "pipelines" / "nb"
    for path in pipeline.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), f"{path} holds the secret"
    assert "$API_TOKEN" in (pipeline / "env.yaml").read_text()
    assert exported.returncode == 0
    env = {**os.environ, "WORKBENCH_TRACKING": "now", "API_TOKEN": ENV_SECRET}
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "nb.ipynb"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the value came from the environment
    from workbench.runtime.products import load

    assert load(pipeline / "products" / "a" / "length") == len(ENV_SECRET) + 3
    for text in (proc.stdout, proc.stderr, workbench("runs", "--json", cwd=tmp_path, check=True).stdout):
        assert SECRET not in text and ENV_SECRET not in text
    record = json.loads(workbench("runs", "--json", cwd=tmp_path, check=True).stdout)[0]
    assert record["params"]["api_token"] == "****" and record["params"]["n"] == 3
    for path in [*pipeline.rglob("*.ipynb"), *(tmp_path / ".workbench" / "runs").glob("*.json")]:
        text = path.read_text(errors="replace")
        assert ENV_SECRET not in text and SECRET not in text, f"{path} holds the secret"
    # MLflow: the parameter is masked, the executed notebooks logged there too
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / '.workbench' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parent = next(r for r in runs if r.data.params.get("api_token"))
    assert parent.data.params["api_token"] == "****" and parent.data.params["n"] == "3"
    for artifacts_dir in (tmp_path / ".workbench").rglob("*.ipynb"):
        assert ENV_SECRET not in artifacts_dir.read_text(errors="replace")
