"""Rolling out under load: `workbench serve NAME@ALIAS` following `promote`, and a ramped canary.

Real components throughout: the project's MLflow registry (SQLite store under `.workbench/`), a
`workbench serve` subprocess (tests/test_serve.py's `Server`), real HTTP from client threads, and
the registry's own `promote` (the function `workbench promote` calls). Models: churn/1 a
LogisticRegression, churn/2 a GradientBoosting (they disagree on some rows, so a reply's prediction
tells which answered), churn/3 the LogisticRegression behind a 0.25 s sleep (slow), churn/4 a model
whose predict raises (broken); the last two are MLflow "models from code" wrapping churn/1's folder.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from test_serve import start as start  # noqa: E402 - the serving tests' fixture: a `workbench serve` killed at teardown

pytestmark = pytest.mark.slow

WRAPPER = '''
import time

import mlflow
from mlflow.pyfunc import PythonModel


class Wrapped(PythonModel):
    """churn/1's model, slowed down or broken by the model_config it was saved with."""

    def load_context(self, context):
        import mlflow.pyfunc

        self.inner = mlflow.pyfunc.load_model(context.artifacts["inner"])
        self.config = context.model_config or {}

    def predict(self, context, model_input, params=None):
        if self.config.get("fail"):
            raise RuntimeError("broken on purpose")
        time.sleep(float(self.config.get("sleep", 0)))
        return self.inner.predict(model_input)


mlflow.models.set_model(Wrapped())
'''

CHECKS = """\
canary:
  min_requests: 8
  check_every: 0.3s
  # max_psi stays the default 0.25: over 8 replies two healthy models' PSI came out 0.253 and 0.852,
  # and only a difference the chi-square test finds significant (psi_significance) breaches it
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    import subprocess

    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("rollout-project")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float),
                          "monthly_charges": rng.normal(70, 20, n).round(2),
                          "support_calls": rng.poisson(2, n).astype(float)})
    churned = ((frame.support_calls > 2) & (frame.monthly_charges > 60) | (frame.tenure < 6)).astype(int)
    fitted = {"a": LogisticRegression(max_iter=1000).fit(frame, churned),
              "b": GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(frame, churned)}
    signature = infer_signature(frame, fitted["a"].predict(frame))
    for key, model in fitted.items():
        mlflow.sklearn.save_model(model, root / "models" / key, input_example=frame.head(2), signature=signature,
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])
    (root / "wrapper.py").write_text(WRAPPER)
    for key, config in {"slow": {"sleep": 0.25}, "broken": {"fail": True}}.items():
        mlflow.pyfunc.save_model(root / "models" / key, python_model=str(root / "wrapper.py"),
                                 artifacts={"inner": str(root / "models" / "a")}, model_config=config,
                                 input_example=frame.head(2), signature=signature)
    uri = f"sqlite:///{root / '.workbench' / 'mlflow.db'}"
    (root / ".workbench").mkdir()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("churn")
    for key in ("a", "b", "slow", "broken"):
        client.create_model_version("churn", source=str(root / "models" / key))
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_tag("churn", "workbench.alias_history.champion", '["1"]')  # as promote leaves it
    client.set_registered_model_alias("churn", "challenger", "2")
    (root / "pipelines" / "churn").mkdir(parents=True)
    (root / "pipelines" / "churn" / "checks.yaml").write_text(CHECKS)

    rows = frame.sample(60, random_state=1).reset_index(drop=True)
    expected = {key: [int(v) for v in mlflow.pyfunc.load_model(str(root / "models" / key)).predict(rows)]
                for key in "ab"}
    assert expected["a"] != expected["b"]
    return {"root": root, "uri": uri, "rows": rows,
            "expected": {"churn/1": expected["a"], "churn/2": expected["b"], "churn/3": expected["a"]}}


class Load:
    """`threads` clients scoring one row at a time until stopped; every reply is checked."""

    def __init__(self, url: str, rows, expected: dict, threads: int = 3) -> None:
        self.url, self.rows, self.expected = url, rows, expected
        self.answered: dict[str, int] = {}
        self.failures: list[str] = []
        self.sent = 0
        self.epoch = 0  # restart() starts a new one: replies to requests sent before it are not counted
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def client(self, index: int) -> None:
        import requests

        http = requests.Session()
        i = index
        while not self.stopped.is_set():
            row = i % len(self.rows)
            i += len(self.threads)
            payload = {"dataframe_split": {"columns": list(self.rows.columns),
                                           "data": [self.rows.iloc[row].tolist()]}}
            with self.lock:
                self.sent += 1
                epoch = self.epoch
            try:
                reply = http.post(self.url + "/invocations", json=payload, timeout=30)
            except requests.RequestException as exc:
                with self.lock:
                    self.failures.append(f"request failed: {exc}")
                continue
            model = reply.headers.get("X-Workbench-Model", "?")
            with self.lock:
                if epoch != self.epoch:  # sent before restart(): in flight when it was called
                    continue
                self.answered[model] = self.answered.get(model, 0) + 1
                if reply.status_code != 200:
                    self.failures.append(f"{model}: {reply.status_code} {reply.text[:200]}")
                elif model not in self.expected or reply.json()["predictions"] != [self.expected[model][row]]:
                    self.failures.append(f"{model} answered {reply.json()} for row {row}")

    def restart(self) -> list[str]:
        """Count afresh from now, requests in flight included out; returns the failures so far."""
        with self.lock:
            self.epoch += 1
            self.answered.clear()
            failures, self.failures = self.failures, []
        return failures

    def stop(self) -> None:
        self.stopped.set()
        for t in self.threads:
            t.join(30)

    def total(self) -> int:
        with self.lock:
            return sum(self.answered.values())


def version_info(url: str) -> dict:
    import requests

    return requests.get(url + "/version", headers={"Accept": "application/json"}, timeout=10).json()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def test_follows_the_alias_under_load_without_a_failed_request(project, start, monkeypatch):
    import mlflow
    import requests

    from workbench.deploy import registry

    root, rows = project["root"], project["rows"]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    server = start(root, "churn@champion", "--follow-every", "0.3", "--name", "churn-bg")
    assert requests.get(server.url + "/version").text == mlflow.__version__  # MLflow's answer stays
    assert requests.get(server.url + "/ping").headers["X-Workbench-Model"] == "churn/1"
    load = Load(server.url, rows, project["expected"])
    try:
        wait_for(lambda: load.total() >= 30, 30, "traffic")
        # promote to 2, roll back to 1, promote to 2, roll back to 1: four switches under load
        for target, move in (("churn/2", {"version": "2"}), ("churn/1", {"rollback": True}),
                             ("churn/2", {"version": "2", "force": True, "reason": "test: again"}),
                             ("churn/1", {"rollback": True})):
            result = registry.promote("churn", "champion", root, **move)
            assert result.moved, result
            wait_for(lambda target=target: version_info(server.url)["model"] == target, 30, f"the switch to {target}")
            before = load.total()
            wait_for(lambda before=before: load.total() >= before + 30, 30, "traffic after the switch")
            assert requests.get(server.url + "/version").headers["X-Workbench-Model"] == target
        # a version that cannot score is never switched to: churn/1 keeps answering
        registry.promote("churn", "champion", root, version="4", force=True, reason="test: broken")
        wait_for(lambda: any(s["to"] == "churn/4" for s in version_info(server.url)["switches"]), 60,
                 "the refused switch to churn/4")
        before = load.total()
        wait_for(lambda: load.total() >= before + 30, 30, "traffic after the refusal")
    finally:
        load.stop()
    info = version_info(server.url)
    rc, _out, err = server.stop()
    assert rc == 0, err
    print(f"\nblue/green: {load.sent} requests sent, {load.total()} answered {load.answered}, "
          f"{len(load.failures)} failed; switches {[(s['from'], s['to'], s['switched']) for s in info['switches']]}")
    assert load.failures == [], load.failures[:5]
    assert load.sent == load.total(), "a request got no reply"
    assert set(load.answered) == {"churn/1", "churn/2"} and min(load.answered.values()) >= 30
    assert [(s["from"], s["to"], s["switched"]) for s in info["switches"]] == [
        ("churn/1", "churn/2", True), ("churn/2", "churn/1", True), ("churn/1", "churn/2", True),
        ("churn/2", "churn/1", True), ("churn/1", "churn/4", False)]
    assert info["model"] == "churn/1"
    assert "switched churn@champion: churn/1 -> churn/2" in err and "dropped churn/1" in err
    assert "NOT switching to churn/4" in err and "broken on purpose" in err, err[-3000:]


def _canary_runs(uri: str, name: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"workbench/serve/{name}/canary")
    assert experiment is not None, "no canary experiment in MLflow"
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    decisions = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    decisions.sort(key=lambda r: int(r.data.params["decision_index"]))
    return parents[0], decisions


def test_healthy_canary_ramps_to_100_and_records_each_decision(project, start):
    root, rows = project["root"], project["rows"]
    server = start(root, "churn/1", "--canary", "churn@challenger", "--ramp", "20,50,100", "--step", "1.5s",
                   "--name", "churn-ramp")
    load = Load(server.url, rows, project["expected"])
    seen = []
    try:
        info = wait_for(lambda: (i := version_info(server.url), seen.append(i["canary"]))[0]["canary"]["state"]
                        == "complete" and i, 60, lambda: f"the canary to complete (last: {seen[-1:]})")
    finally:
        load.stop()
    rc, _out, err = server.stop()
    assert rc == 0, err
    assert load.failures == [], load.failures[:5]
    assert info["canary"]["percent"] == 100
    assert [d["decision"] for d in info["canary"]["decisions"]] == ["start", "widen", "widen", "complete"]
    parent, decisions = _canary_runs(project["uri"], "churn-ramp")
    assert parent.data.tags["workbench.canary.outcome"] == "complete" and parent.info.status == "FINISHED"
    assert parent.data.params["canary"] == "churn/2" and parent.data.params["ramp"] == "20,50,100"
    assert parent.data.params["rule.min_requests"] == "8"  # from pipelines/churn/checks.yaml
    assert [(d.data.params["decision"], d.data.params["share_to"]) for d in decisions] == [
        ("start", "20"), ("widen", "50"), ("widen", "100"), ("complete", "100")]
    widen = decisions[1].data.metrics
    assert widen["canary_requests"] >= 8 and widen["canary_error_rate"] == 0 and "prediction_psi" in widen


@pytest.mark.parametrize(("version", "reason"), [("3", "p95 latency"), ("4", "error rate")])
def test_unhealthy_canary_goes_to_zero_and_the_primary_keeps_serving(project, start, version, reason):
    root, rows = project["root"], project["rows"]
    name = f"churn-bad-{version}"
    server = start(root, "churn/1", "--canary", f"churn/{version}", "--ramp", "30,100", "--step", "30s",
                   "--name", name)
    expected = dict(project["expected"])
    load = Load(server.url, rows, expected)
    try:
        info = wait_for(lambda: (i := version_info(server.url))["canary"]["state"] == "rolled back" and i, 60,
                        "the rollback")
        canary_failures = load.restart()  # a slow canary's replies still in flight are not "after"
        wait_for(lambda: load.total() >= 40, 30, "traffic after the rollback")
    finally:
        load.stop()
    rc, _out, err = server.stop()
    assert rc == 0, err
    assert info["canary"]["percent"] == 0
    assert [d["decision"] for d in info["canary"]["decisions"]] == ["start", "rollback"]
    assert reason in info["canary"]["decisions"][-1]["reason"]
    assert f"canary churn/{version}: rollback 30% -> 0%: {reason}" in err
    # after the rollback only the primary answers, and it answers every request
    assert set(load.answered) == {"churn/1"} and load.failures == [], (load.answered, load.failures[:5])
    if version == "4":
        assert canary_failures and all(f.startswith("churn/4") for f in canary_failures)
    parent, decisions = _canary_runs(project["uri"], name)
    assert parent.data.tags["workbench.canary.outcome"] == "rolled back"
    assert decisions[-1].data.params["decision"] == "rollback" and decisions[-1].data.params["share_to"] == "0"
    assert reason in decisions[-1].data.tags["workbench.canary.reason"]
    assert decisions[-1].data.metrics["canary_requests"] >= 8


def test_a_healthy_canary_with_promote_takes_the_alias_and_then_answers_everything(project, start):
    from mlflow import MlflowClient

    root, uri = project["root"], project["uri"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.set_registered_model_alias("churn", "stable", "1")  # its own alias: the other tests move champion
    server = start(root, "churn@stable", "--canary", "churn/2", "--ramp", "50,100", "--step", "1.5s",
                   "--promote", "--name", "churn-promote")
    load = Load(server.url, project["rows"], project["expected"])
    seen = []
    try:
        info = wait_for(lambda: (i := version_info(server.url), seen.append(i["canary"]))[0]["canary"]["state"]
                        == "promoted" and i, 60, lambda: f"the canary to be promoted (last: {seen[-1:]})")
        before = load.restart()  # from now on every reply must come from the promoted version
        wait_for(lambda: load.total() >= 40, 30, "traffic after the promotion")
        after = version_info(server.url)
    finally:
        load.stop()
    rc, _out, err = server.stop()
    assert rc == 0, err
    assert before == [] and load.failures == [], (before[:5], load.failures[:5])
    assert set(load.answered) == {"churn/2"}, load.answered
    assert str(client.get_model_version_by_alias("churn", "stable").version) == "2"
    assert [d["decision"] for d in info["canary"]["decisions"]] == ["start", "widen", "complete", "promote"]
    assert info["canary"]["percent"] == 0 and after["model"] == "churn/2" and "second" not in after
    assert after["switches"] == []  # the canary's loaded model took over: the watcher loaded nothing
    assert "dropped churn/1" in err
    parent, decisions = _canary_runs(uri, "churn-promote")
    assert parent.data.tags["workbench.canary.outcome"] == "promoted"
    assert parent.data.params["promote"] == "True"
    assert decisions[-1].data.params["decision"] == "promote"
    assert "churn/2 is churn@stable now" in decisions[-1].data.tags["workbench.canary.reason"]


def test_promote_refuses_a_primary_without_an_alias_before_loading_anything(project):
    from harness import workbench

    proc = workbench("serve", "churn/1", "--canary", "churn/2", "--ramp", "50,100", "--promote",
                     "--no-track", cwd=project["root"], timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--promote moves the alias of the model being served, and churn/1 names none" in proc.stderr
    assert "workbench serve churn@champion" in proc.stderr
