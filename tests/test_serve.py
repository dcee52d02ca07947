"""`workbench serve` as a user runs it: a real server process, real HTTP, a real MLflow registry.

Two small churn-like models are built here (not with `workbench package`): a LogisticRegression
("a") and a GradientBoosting ("b"), saved with `mlflow.sklearn.save_model` and registered as versions
1 and 2 of `churn` (aliases champion and challenger) in the project's default store
(`<root>/.workbench/mlflow.db`). Each test starts `workbench serve --port 0` as a subprocess, reads
the URL it prints, scores over HTTP, stops it with SIGINT (as Ctrl-C does) and checks what it left:
the request log and the MLflow serving run. Predictions are compared with the models loaded
in-process with `mlflow.pyfunc.load_model`.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before anything imports mlflow

pytestmark = pytest.mark.slow

COLUMNS = ["tenure", "monthly_charges", "support_calls"]
START_TIMEOUT = 120


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """A git project with models a and b saved as folders and registered as churn/1 and churn/2."""
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("serve-project")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float),
                          "monthly_charges": rng.normal(70, 20, n).round(2),
                          "support_calls": rng.poisson(2, n).astype(float)})
    churned = ((frame.support_calls > 2) & (frame.monthly_charges > 60) | (frame.tenure < 6)).astype(int)
    fitted = {"a": LogisticRegression(max_iter=1000).fit(frame, churned),
              "b": GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(frame, churned)}
    for key, model in fitted.items():
        mlflow.sklearn.save_model(model, root / "models" / key, input_example=frame.head(2),
                                  signature=infer_signature(frame, model.predict(frame)),
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])
    uri = f"sqlite:///{root / '.workbench' / 'mlflow.db'}"
    (root / ".workbench").mkdir()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("churn")
    for key in "ab":
        client.create_model_version("churn", source=str(root / "models" / key), tags={"workbench.run_id": f"run-{key}"})
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "challenger", "2")

    rows = frame.sample(60, random_state=1).reset_index(drop=True)
    expected = {key: [int(v) for v in mlflow.pyfunc.load_model(str(root / "models" / key)).predict(rows)]
                for key in "ab"}
    assert expected["a"] != expected["b"], "the two models must disagree somewhere for the tests to mean anything"
    return {"root": root, "uri": uri, "rows": rows, "expected": expected}


class Server:
    """`workbench serve ARGS --port 0` in a subprocess; `stop()` sends SIGINT like Ctrl-C."""

    def __init__(self, root: Path, *args: str, track: bool = True) -> None:
        env = {**os.environ, "WORKBENCH_TRACKING": "now" if track else "off"}
        env.pop("MLFLOW_TRACKING_URI", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", *args, "--port", "0"],
                                     cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr = ""
        self._err = threading.Thread(target=self._read_err, daemon=True)
        self._err.start()
        threading.Thread(target=self._read_out, daemon=True).start()
        self.url = self._wait_url()
        self._wait_ping()

    def _read_out(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _read_err(self) -> None:
        self.stderr = self.proc.stderr.read()

    def _wait_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.stdout.append(line)
            if m := re.match(r"serving .* at (http://127\.0\.0\.1:\d+)$", line.strip()):
                return m.group(1)
        self.kill()
        raise AssertionError(f"no URL printed\nstdout: {''.join(self.stdout)}\nstderr: {self.stderr}")

    def _wait_ping(self) -> None:
        import requests

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/ping", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        self.kill()
        raise AssertionError("server never answered /ping")

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=60)
        finally:
            self.kill()
        self._err.join(10)
        while (line := self.lines.get(timeout=10)) is not None:
            self.stdout.append(line)
        return rc, "".join(self.stdout), self.stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def start():
    """`start(root, *args)` -> a running Server; every server still running is killed at teardown."""
    servers: list[Server] = []

    def start_server(root: Path, *args: str, track: bool = True) -> Server:
        server = Server(root, *args, track=track)
        servers.append(server)
        return server

    yield start_server
    for server in servers:
        server.kill()


def split(rows) -> dict:
    return {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}


def score(session, url: str, payload, **headers):
    return session.post(url + "/invocations", json=payload, headers=headers, timeout=30)


def read_log(root: Path, name: str = "churn") -> list[dict]:
    files = sorted((root / ".workbench" / "serving" / name).glob("*.jsonl"))
    assert files, f"no request log under .workbench/serving/{name}/"
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def serving_run(uri: str, name: str = "churn"):
    """The newest MLflow serving run of `name`."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"workbench/serve/{name}")
    assert experiment is not None, "no serving experiment in MLflow"
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    return client, runs[0]


# --------------------------------------------------------------------------------------------------
# tests


def test_serves_a_registered_alias_as_mlflow_does(project, start):
    import mlflow
    import requests

    root, rows, expected = project["root"], project["rows"], project["expected"]
    server = start(root, "churn@champion")
    http = requests.Session()
    assert http.get(server.url + "/version").text == mlflow.__version__

    reply = score(http, server.url, split(rows))
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": expected["a"]}
    assert reply.headers["X-Workbench-Model"] == "churn/1"
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Workbench-Request-Id"])
    # MLflow's other input formats reach the same model
    records = score(http, server.url, {"dataframe_records": rows.head(5).to_dict(orient="records")})
    assert records.json()["predictions"] == expected["a"][:5]
    instances = score(http, server.url, {"instances": rows.head(3).to_dict(orient="records")})
    assert instances.json()["predictions"] == expected["a"][:3]
    for i in range(3):  # single rows
        assert score(http, server.url, split(rows.iloc[[i]])).json()["predictions"] == [expected["a"][i]]
    bad = score(http, server.url, {"dataframe_records": [{"tenure": 1.0}]})
    assert bad.status_code == 400 and "missing inputs" in bad.json()["message"]

    rc, out, err = server.stop()
    assert rc == 0, err
    assert f"curl -s {server.url}/invocations -H 'Content-Type: application/json' -d" in out
    assert "stopped after 7 request(s)" in err and "1 error(s)" in err

    log = read_log(root)
    assert [e["id"] for e in log][0] == reply.headers["X-Workbench-Request-Id"]
    assert [e["status"] for e in log] == [200] * 6 + [400]
    assert log[0]["inputs"] == {"columns": COLUMNS, "data": rows.values.tolist()}
    assert log[0]["predictions"] == expected["a"] and log[0]["model"] == "churn/1"
    assert log[1]["input_format"] == "dataframe_records" and log[1]["n_rows"] == 5
    assert log[6]["predictions"] is None and "missing inputs" in log[6]["error"]

    client, run = serving_run(project["uri"])
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "churn/1" and run.data.params["mode"] == "single"
    assert run.data.metrics["requests_primary"] == 7 and run.data.metrics["errors_primary"] == 1
    assert run.data.metrics["rows_primary"] == len(rows) + 5 + 3 + 3
    assert run.data.tags["workbench.serving.model_run_id"] == "run-a"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "serving")}
    assert artifacts == {"serving/requests.jsonl"}


def test_shadow_answers_with_the_primary_and_logs_both(project, start):
    import requests

    root, rows, expected = project["root"], project["rows"], project["expected"]
    server = start(root, "models/a", "--shadow", "churn@challenger", "--name", "churn-shadow")
    http = requests.Session()
    batches = [(lo, lo + 1 + (lo // 2) % 4) for lo in range(0, 40, 2)]  # 20 requests of 1 to 4 rows
    for lo, hi in batches:
        reply = score(http, server.url, split(rows.iloc[lo:hi]))
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"predictions": expected["a"][lo:hi]}
        assert reply.headers["X-Workbench-Model"] == "models/a"
    rc, _out, err = server.stop()
    assert rc == 0, err

    log = read_log(root, "churn-shadow")
    assert len(log) == len(batches)
    by_rows = {tuple(map(tuple, e["inputs"]["data"])): e for e in log}
    agree = elements = 0
    for lo, hi in batches:
        entry = by_rows[tuple(map(tuple, rows.iloc[lo:hi].values.tolist()))]
        assert entry["model"] == "models/a" and entry["predictions"] == expected["a"][lo:hi]
        assert entry["shadow"] == {"model": "churn/2", "status": 200, "latency_ms": entry["shadow"]["latency_ms"],
                                   "predictions": expected["b"][lo:hi]}
        agree += sum(x == y for x, y in zip(expected["a"][lo:hi], expected["b"][lo:hi]))
        elements += hi - lo

    client, run = serving_run(project["uri"], "churn-shadow")
    metrics = run.data.metrics
    assert run.data.params["mode"] == "shadow" and run.data.params["second_model"] == "churn/2"
    assert metrics["requests_primary"] == len(batches) and metrics["shadow_requests"] == len(batches)
    assert metrics["shadow_agreement_rate"] == pytest.approx(agree / elements)
    assert metrics["shadow_mean_abs_diff"] == pytest.approx(1 - agree / elements)  # 0/1 labels
    pairs_path = client.download_artifacts(run.info.run_id, "serving/shadow_pairs.jsonl", str(root / "dl"))
    pairs = [json.loads(line) for line in Path(pairs_path).read_text().splitlines()]
    assert len(pairs) == len(batches) and all(p["shadow"] == "churn/2" for p in pairs)


def test_canary_sends_a_share_to_the_second_model_and_says_which(project, start):
    import requests

    root, rows, expected = project["root"], project["rows"], project["expected"]
    server = start(root, "churn/1", "--canary", "churn@challenger:30", "--name", "churn-canary")
    http = requests.Session()
    answered = {"churn/1": 0, "churn/2": 0}
    total = 200
    for i in range(total):
        row = i % len(rows)
        reply = score(http, server.url, split(rows.iloc[[row]]))
        assert reply.status_code == 200, reply.text
        model = reply.headers["X-Workbench-Model"]
        answered[model] += 1
        assert reply.json()["predictions"] == [expected["a" if model == "churn/1" else "b"][row]]
    # 30% of 200 is 60 with sd 6.5: +-4.5 sd is never flaky, yet fails if the split is off
    assert 31 <= answered["churn/2"] <= 89, answered
    # with a route key, one key always sees the same model
    keyed = {score(http, server.url, split(rows.iloc[[0]]), **{"X-Workbench-Route-Key": "user-42"})
             .headers["X-Workbench-Model"] for _ in range(10)}
    assert len(keyed) == 1
    rc, _out, err = server.stop()
    assert rc == 0, err

    log = read_log(root, "churn-canary")[:total]
    assert sum(e["role"] == "canary" for e in log) == answered["churn/2"]
    assert all((e["role"] == "canary") == (e["model"] == "churn/2") for e in log)
    _client, run = serving_run(project["uri"], "churn-canary")
    assert run.data.params["canary_percent"] == "30.0"
    canary_keyed = 10 if keyed == {"churn/2"} else 0
    assert run.data.metrics["requests_canary"] == answered["churn/2"] + canary_keyed
    assert run.data.metrics["requests_primary"] == answered["churn/1"] + 10 - canary_keyed


def test_clear_errors_for_unknown_models_non_models_and_busy_ports(project):
    from harness import workbench

    root = project["root"]
    (root / "empty").mkdir(exist_ok=True)
    for model, messages in {
        "nope@champion": ["no registered model named 'nope'", "registered models: churn"],
        "empty": ["empty is not an MLflow model", "holds MLmodel"],
    }.items():
        proc = workbench("serve", model, "--port", "0", cwd=root)
        assert proc.returncode == 2, proc.stderr
        assert all(m in proc.stderr for m in messages), proc.stderr
        assert "fix:" in proc.stderr and "Traceback" not in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = workbench("serve", "models/a", "--port", port, cwd=root)
    assert proc.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "--port 0" in proc.stderr


def test_registry_references_resolve_or_say_what_exists(project):
    """The other lookups of the CLI above, in-process against the same real store (no 10 s start each)."""
    from workbench.deploy.serving.models import ModelNotFound, NotAModel, resolve

    root, uri = project["root"], project["uri"]
    assert resolve("churn@challenger", root, uri).label == "churn/2"
    assert resolve("models:/churn/1", root, uri).tags == {"workbench.run_id": "run-a"}
    assert resolve("churn", root, uri).label == "churn/2"  # the newest version
    assert resolve(str(root / "models" / "b"), root, uri).uri == str(root / "models" / "b")
    for spec, messages in {
        "churn@staging": ["has no alias 'staging'", "its aliases: challenger, champion"],
        "churn/9": ["has no version 9", "its versions: 1, 2"],
        "models:/other": ["no registered model named 'other'", "registered models: churn"],
    }.items():
        with pytest.raises(ModelNotFound) as caught:
            resolve(spec, root, uri)
        assert all(m in str(caught.value) for m in messages), str(caught.value)
    with pytest.raises(NotAModel, match="no such folder"):
        resolve("./models/c", root, uri)


def test_bound_socket_is_tcp_so_asyncio_disables_nagle():
    """A socket made with proto 0 leaves TCP_NODELAY off on accepted connections: every keep-alive
    reply then waited ~40 ms for a delayed ACK (measured: 52 ms instead of 8 ms per single row)."""
    from workbench.deploy.serving.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
    finally:
        sock.close()
