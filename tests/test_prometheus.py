"""Outcomes, A/B and Prometheus with the real components: `workbench serve` (MLflow's scoring server)
scraped by a real `prometheus` that evaluates the rules `workbench alerts export` wrote from
checks.yaml, a real Alertmanager delivering to a local webhook, and `POST /feedback` /
`workbench feedback` joined by `workbench monitor` for live metrics and an A/B decision.

Prometheus and Alertmanager are Debian's packages (`make prometheus-deps` installs them); the
tests are skipped with the reason when the binaries are missing. Everything runs on 127.0.0.1 with
free ports and temp dirs, and is stopped at the end. About 2 minutes in all on 2 shared cores
(fixture 24 s, Prometheus test 38 s, A/B test 57 s: 300 requests, three CLI runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from harness import workbench  # noqa: E402
from helpers import webhook  # noqa: E402
from test_serve import Server, split  # noqa: E402

pytestmark = pytest.mark.slow

PROMETHEUS, ALERTMANAGER = shutil.which("prometheus"), shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs_prometheus = pytest.mark.skipif(not (PROMETHEUS and ALERTMANAGER and shutil.which("promtool")),
                                      reason="prometheus, promtool and alertmanager not installed "
                                             "(make prometheus-deps: apt-get install prometheus prometheus-alertmanager)")
COLUMNS = ["tenure", "monthly_charges", "support_calls"]
RULES = """alerts:
  - drift > 0.2 on any feature
  - error rate > 50% over 10s
  - p99 > 5 s
  - auc < 0.75 over 1d
ab:
  alpha: 0.05
outcomes:
  min_outcomes: 20
"""


def frame(n: int, seed: int, shift: float = 0.0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tenure": rng.integers(0, 72, n).astype(float),
                         "monthly_charges": (rng.normal(70 + shift, 20, n)).round(2),
                         "support_calls": rng.poisson(2, n).astype(float)})


def truth(rows, seed: int):
    """The outcome the world gives: churn when the customer is new or has costly support trouble."""
    import numpy as np

    rng = np.random.default_rng(seed)
    signal = ((rows.support_calls > 2) & (rows.monthly_charges > 60)) | (rows.tenure < 6)
    flip = rng.random(len(rows)) < 0.1
    return (signal ^ flip).astype(int).tolist()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """Two churn models saved as folders with a training profile: `models/good` (a gradient boosting
    on the real signal) and `models/weak` (a logistic regression fitted to shuffled labels)."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from workbench.quality.profile import capture_profile, save_profile

    root = tmp_path_factory.mktemp("prometheus-project")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    train = frame(2000, seed=1)
    labels = truth(train, seed=2)
    good = GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0).fit(train, labels)
    shuffled = np.random.default_rng(3).permutation(labels)  # learns nothing: auc about 0.5 on outcomes
    weak = LogisticRegression().fit(train, shuffled)
    for name, model in (("good", good), ("weak", weak)):
        folder = root / "models" / name
        mlflow.sklearn.save_model(model, folder, input_example=train.head(2), pyfunc_predict_fn="predict_proba",
                                  pip_requirements=["scikit-learn", "pandas"],
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])
        save_profile(capture_profile(train, model.predict_proba(train)[:, 1]), folder / "training_profile.json")
    (root / "checks.yaml").write_text(RULES)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 40.0, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@contextlib.contextmanager
def process(args: list[str], log: Path):
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def send(url: str, rows, batch: int = 50, keyed: bool = False) -> list[tuple[str, int]]:
    """Score `rows` in batches; (request id, rows) per request. `keyed`: each request carries the
    route key `user-<n>`, so that the A/B arms (a hash of it) are the same in every run."""
    import requests

    ids = []
    with requests.Session() as http:
        for lo in range(0, len(rows), batch):
            headers = {"X-Workbench-Route-Key": f"user-{lo}"} if keyed else {}
            reply = http.post(url + "/invocations", json=split(rows.iloc[lo:lo + batch]), headers=headers, timeout=30)
            assert reply.status_code == 200, reply.text
            ids.append((reply.headers["X-Workbench-Request-Id"], len(rows.iloc[lo:lo + batch])))
    return ids


@needs_prometheus
def test_prometheus_fires_the_drift_alert_and_alertmanager_delivers_it(project, tmp_path):
    import requests
    import yaml

    rules = tmp_path / "workbench.rules.yml"
    dashboard = tmp_path / "dashboard.json"
    export = workbench("alerts", "export", "checks.yaml", "-o", rules, "--grafana", dashboard, "--model", "churn",
                       "--for", "1s", cwd=project)
    assert export.returncode == 0, export.stdout + export.stderr
    assert "3 Prometheus alerting rule(s)" in export.stdout and "skipped auc < 0.75 over 1d" in export.stdout
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 3 rules found" in check.stdout, check.stdout + check.stderr

    server = Server(project, "models/good", "--no-track", track=False)
    prom_port, am_port = free_port(), free_port()
    target = server.url.removeprefix("http://")
    (tmp_path / "am.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": "URL", "send_resolved": False}]}]}))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "workbench", "static_configs": [{"targets": [target]}]}]}))
    prom = f"http://127.0.0.1:{prom_port}"
    try:
        with webhook() as (hook_url, received):
            (tmp_path / "am.yml").write_text((tmp_path / "am.yml").read_text().replace("URL", hook_url))
            with process([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
                          f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
                         tmp_path / "alertmanager.log"), \
                 process([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                         tmp_path / "prometheus.log"):
                def query(expr: str) -> list:
                    reply = requests.get(prom + "/api/v1/query", params={"query": expr}, timeout=5).json()
                    assert reply["status"] == "success", (expr, reply)
                    return reply["data"]["result"]

                def firing() -> list[dict]:
                    alerts = requests.get(prom + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
                    return [a for a in alerts if a["state"] == "firing"]

                # traffic like the training data: the drift gauges are scraped, and stay low
                send(server.url, frame(600, seed=5))
                psi = wait_for("the drift gauges in Prometheus",
                               lambda: {r["metric"]["feature"]: float(r["value"][1])
                                        for r in query("workbench_feature_drift_psi")} or None)
                assert set(psi) == set(COLUMNS) and max(psi.values()) < 0.2, psi
                time.sleep(3)  # several evaluations
                assert firing() == [], firing()
                # every panel of the dashboard is a query this Prometheus answers
                panels = json.loads(dashboard.read_text())["panels"]
                for panel in panels:
                    for target_ in panel["targets"]:
                        query(target_["expr"])

                # shifted traffic: the whole window drifts on monthly_charges; the alert fires
                send(server.url, frame(1000, seed=6, shift=60.0))
                alerts = wait_for("WorkbenchDrift firing in Prometheus",
                                  lambda: [a for a in firing() if a["labels"]["alertname"] == "WorkbenchDrift"])
                assert {a["labels"]["feature"] for a in alerts} == {"monthly_charges"}, alerts
                assert alerts[0]["labels"]["workbench_model"] == "churn"
                assert all(a["labels"]["alertname"] == "WorkbenchDrift" for a in firing())
                delivered = wait_for("the alert at the webhook", lambda: [
                    a for body in received for a in body.get("alerts", [])
                    if a["labels"].get("alertname") == "WorkbenchDrift"])
                assert delivered[0]["labels"]["feature"] == "monthly_charges" and delivered[0]["status"] == "firing"
                assert "drift > 0.2 on any feature" in delivered[0]["annotations"]["summary"]
    finally:
        server.kill()


def test_ab_arms_outcomes_and_a_winner_only_when_significant(project, tmp_path):
    import requests

    server = Server(project, "models/weak", "--ab", "models/good:50", "--no-track", track=False)
    try:
        rows = frame(1200, seed=9)
        outcomes = truth(rows, seed=10)
        ids = send(server.url, rows, batch=4, keyed=True)
        # a clear error for bad feedback, then outcomes one by one and as a batch
        bad = requests.post(server.url + "/feedback", json={"outcome": 1}, timeout=10)
        assert bad.status_code == 400 and "no request id" in bad.json()["message"], bad.text
        # the first 32 rows' outcomes (8 requests of 4 rows): per request, and one row by row
        first = [{"id": rid, "outcome": outcomes[4 * i:4 * i + 4]} for i, (rid, _n) in enumerate(ids[:7])]
        assert requests.post(server.url + "/feedback", json=first[0], timeout=10).json() == {"accepted": 1}
        assert requests.post(server.url + "/feedback", json=first[1:], timeout=10).json() == {"accepted": 6}
        last = [{"id": ids[7][0], "row": r, "outcome": outcomes[28 + r]} for r in range(4)]
        assert requests.post(server.url + "/feedback", json={"feedback": last}, timeout=10).json() == {"accepted": 4}
        time.sleep(0.5)
        early = workbench("monitor", "models/weak", "--rules", "checks.yaml", "--no-track",
                          cwd=project)
        assert "outcomes: 32 row(s) joined" in early.stdout, early.stdout + early.stderr
        assert "fewer than 20 outcomes in an arm): no winner yet; about" in early.stdout, early.stdout
        assert "more outcome(s) per arm needed" in early.stdout and early.returncode == 0, early.stdout
    finally:
        rc, out, err = server.stop()
    assert rc == 0, err
    assert "A/B: arm B models/good answers 50% of requests" in out, out
    # the rest arrives later as a labels file joined by id
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,row,churned\n" + "".join(
        f"{rid},{r},{outcomes[4 * i + r]}\n" for i, (rid, n) in enumerate(ids) if i >= 8 for r in range(n)))
    imported = workbench("feedback", "models/weak", labels, "--id-column", "request_id", "--label-column", "churned",
                         "--row-column", "row", cwd=project)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "1168 outcome(s) stored" in imported.stdout and "1168 of them match" in imported.stdout
    missing = workbench("feedback", "models/weak", labels, "--id-column", "rid", "--label-column", "churned", cwd=project)
    assert missing.returncode == 2 and "no column 'rid'" in missing.stderr and "request_id" in missing.stderr

    log = [json.loads(line) for f in (project / ".workbench/serving/weak").glob("*.jsonl")
           for line in f.read_text().splitlines()]
    arms = {e["arm"]: e["model"] for e in log}
    assert arms == {"A": "models/weak", "B": "models/good"}
    assert 110 <= sum(e["arm"] == "B" for e in log) <= 190  # 50% of 300 requests, sd 8.7

    done = workbench("monitor", "models/weak", "--rules", "checks.yaml", "--no-track",
                     cwd=project)
    out = done.stdout + done.stderr
    assert "outcomes: 1200 row(s) joined" in out, out
    assert "models/good: auc 0." in out and "models/weak: auc 0." in out, out
    assert "winner B (models/good)" in out, out
    # the weak model's auc (about 0.68) is below 0.75 on real outcomes, the good one's (0.82) is not:: the concept-drift rule fires for it only
    assert "ALERT: auc < 0.75 over 1d: models/weak" in done.stderr and done.returncode == 1, out
    assert "models/good =" not in done.stderr
