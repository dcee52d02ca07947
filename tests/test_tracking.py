"""Tracking Workbench runs in MLflow, against real stores: the embedded SQLite one and a real server.

The server tests start `mlflow server` once for the module (startup takes tens of seconds), stop it
to check that an unreachable server fails fast, and start it again on the same database to check
that spooled runs are delivered exactly once.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import write_notebook

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before anything imports mlflow

from workbench.core.errors import WorkbenchError  # noqa: E402
from workbench.provenance.tracking import (  # noqa: E402
    TrackingError,
    TrackingUnavailable,
    default_tracking_uri,
    find_runs,
    log_run,
    spool,
    sync,
)

STARTED = 1795432057.59


def make_record(root: Path, run_id: str = "20261123-113501-ab12cd", started: float = STARTED, **extra) -> dict:
    """A run record as the runner writes it, with one task that ran (real executed notebook) and one skipped."""
    notebook = write_notebook(root / "pipelines" / "churn" / "products" / "load.ipynb", [
        ("n_rows = 5000", "task:load"),
        {"source": "print('loaded', n_rows, 'rows')", "execution_count": 1,
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["loaded 5000 rows\n"]}]},
    ])
    record = {
        "id": run_id,
        "pipeline": "churn",
        "notebook": "notebooks/churn.ipynb",
        "notebook_sha256": "9f" * 32,
        "started": started,
        "ended": started + 7.51,
        "status": "FINISHED",
        "user": "alice",
        "params": {"seed": 7, "learning_rate": 0.1, "model": "gbm"},
        "metrics": {"auc": 0.81, "accuracy": 0.77},
        "git": {"commit": "abc123def456", "dirty": True},
        "device": "CPU",
        "workbench_version": "0.1.0",
        "data": {"notebooks/data/x.csv": {"md5": "0cc175b9c0f1b6a831c399e269772661", "size": 10},
                 "pipelines/churn/products": {"md5": "92eb5ffee6ae2fec3ad71c777531578f.dir", "size": 123, "nfiles": 9}},
        "tasks": [
            {"name": "load", "status": "ran", "seconds": 0.12, "peak_rss_mb": 180.5,
             "notebook": str(notebook), "metrics": {"rows": 5000}},
            {"name": "train", "status": "skipped", "made_by": "20261123-110000-ffffff"},
        ],
    }
    record.update(extra)
    return record


def children(client, run) -> dict:
    """The nested runs of `run`, by task name."""
    found = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    return {r.data.tags["workbench.task"]: r for r in found}


def check_logged(client, run_id: str, record: dict) -> None:
    """What a logged record must look like in MLflow, read back with MLflow's own client."""
    run = client.get_run(run_id)
    assert run.info.run_name == record["id"]
    assert run.info.status == record["status"]
    assert run.info.start_time == round(record["started"] * 1000)
    assert run.info.end_time == round(record["ended"] * 1000)
    assert client.get_experiment(run.info.experiment_id).name == "workbench/" + record["pipeline"]
    assert run.data.params == {"seed": "7", "learning_rate": "0.1", "model": "gbm"}
    assert run.data.metrics == record["metrics"]
    tags = run.data.tags
    assert tags["workbench.run_id"] == record["id"]
    assert tags["workbench.pipeline"] == "churn"
    assert tags["workbench.notebook"] == "notebooks/churn.ipynb"
    assert tags["workbench.notebook_sha256"] == record["notebook_sha256"]
    assert tags["git.commit"] == "abc123def456"
    assert tags["git.dirty"] == "true"
    assert tags["workbench.device"] == "CPU"
    assert tags["workbench.version"] == "0.1.0"
    assert tags["mlflow.user"] == "alice"
    assert tags["data.notebooks/data/x.csv"] == "0cc175b9c0f1b6a831c399e269772661"
    assert tags["data.pipelines/churn/products"] == "92eb5ffee6ae2fec3ad71c777531578f.dir"
    assert tags["workbench.logged"] == "true"
    assert "mlflow.parentRunId" not in tags
    assert {a.path for a in client.list_artifacts(run_id)} == {"workbench_run.json"}
    logged = json.loads(Path(client.download_artifacts(run_id, "workbench_run.json")).read_text())
    assert logged == record

    tasks = children(client, run)
    assert set(tasks) == {"load", "train"}
    load, train = tasks["load"], tasks["train"]
    assert load.info.run_name == "load" and load.info.status == "FINISHED"
    assert load.data.metrics == {"duration_s": 0.12, "peak_rss_mb": 180.5, "rows": 5000.0}
    assert load.data.tags["workbench.status"] == "ran"
    assert load.info.start_time == run.info.start_time
    assert load.info.end_time == run.info.start_time + 120
    assert {a.path for a in client.list_artifacts(load.info.run_id)} == {"load.ipynb", "load.html"}
    html = Path(client.download_artifacts(load.info.run_id, "load.html")).read_text()
    assert "<html" in html and "loaded 5000 rows" in html and "n_rows" in html
    assert train.data.tags["workbench.status"] == "skipped"
    assert train.data.tags["workbench.made_by"] == "20261123-110000-ffffff"
    assert train.data.metrics == {}
    assert client.list_artifacts(train.info.run_id) == []


def parent_runs(client, record_id: str) -> list:
    experiment = client.get_experiment_by_name("workbench/churn")
    return client.search_runs([experiment.experiment_id], f"tags.`workbench.run_id` = '{record_id}'")


# --------------------------------------------------------------------------------------------------
# embedded store


def test_default_uri_is_embedded_sqlite_unless_the_environment_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/.workbench/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert default_tracking_uri(tmp_path) == "http://mlflow.example:5000"


def test_log_run_to_the_embedded_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path / "..")  # artifacts must not land in the working directory
    record = make_record(tmp_path)
    run_id = log_run(record, tmp_path)

    uri = default_tracking_uri(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    check_logged(client, run_id, record)
    experiment = client.get_experiment_by_name("workbench/churn")
    assert experiment.artifact_location == (tmp_path / ".workbench" / "mlartifacts").resolve().as_uri()
    assert (tmp_path / ".workbench" / "mlflow.db").is_file()
    assert not (tmp_path.parent / "mlruns").exists()

    [found] = find_runs(tmp_path)
    assert found["id"] == record["id"] and found["mlflow_run_id"] == run_id
    assert found["status"] == "FINISHED" and found["pipeline"] == "churn"
    assert found["started"] == pytest.approx(STARTED, abs=1e-3)
    assert found["params"] == record["params"]  # with their types
    assert found["metrics"] == record["metrics"]
    assert found["data"] == {p: e["md5"] for p, e in record["data"].items()}
    assert found["git"] == record["git"]
    assert find_runs(tmp_path, "churn") == [found]
    assert find_runs(tmp_path, "other") == []

    # logging the same record again finds it instead of duplicating it
    assert log_run(record, tmp_path) == run_id
    assert len(parent_runs(client, record["id"])) == 1


def test_non_finite_metrics_are_skipped_with_a_note(tmp_path):
    from mlflow.tracking import MlflowClient

    record = make_record(tmp_path, metrics={"auc": 0.81, "loss": math.nan, "gain": math.inf})
    uri = default_tracking_uri(tmp_path)
    run = MlflowClient(tracking_uri=uri).get_run(log_run(record, tmp_path, uri))
    assert run.data.metrics == {"auc": 0.81}
    assert "'loss' skipped" in run.data.tags["workbench.notes"]
    assert "'gain' skipped" in run.data.tags["workbench.notes"]


def test_find_runs_without_a_store_creates_none(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert find_runs(tmp_path) == []
    assert not (tmp_path / ".workbench").exists()


def test_spool_and_sync_in_start_order_and_only_once(tmp_path):
    uri = default_tracking_uri(tmp_path)
    late = make_record(tmp_path, "20261123-120000-000002", started=STARTED + 100)
    early = make_record(tmp_path, "20261123-110000-000001", started=STARTED)
    for record in (late, early):
        path = spool(record, tmp_path)
        assert path == tmp_path / ".workbench" / "unsynced" / f"{record['id']}.json"
        assert json.loads(path.read_text()) == record
    assert sorted(p.name for p in path.parent.iterdir()) == [f"{early['id']}.json", f"{late['id']}.json"]

    delivered = sync(tmp_path, uri)
    assert [rid for rid, _ in delivered] == [early["id"], late["id"]]
    assert list((tmp_path / ".workbench" / "unsynced").glob("*.json")) == []
    assert sync(tmp_path, uri) == []
    assert [r["id"] for r in find_runs(tmp_path, uri=uri)] == [late["id"], early["id"]]  # newest first


def test_a_partly_logged_run_is_replaced(tmp_path):
    """A run cut off midway (no `workbench.logged` tag) is deleted and logged again, not kept."""
    from mlflow.tracking import MlflowClient

    uri = default_tracking_uri(tmp_path)
    record = make_record(tmp_path)
    first = log_run(make_record(tmp_path, "20261123-100000-000000"), tmp_path, uri)  # creates the experiment
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_run(first).info.experiment_id
    partial = client.create_run(experiment_id, run_name=record["id"], tags={"workbench.run_id": record["id"]})
    child = client.create_run(experiment_id, tags={"mlflow.parentRunId": partial.info.run_id})

    run_id = log_run(record, tmp_path, uri)
    assert run_id != partial.info.run_id
    assert [r.info.run_id for r in parent_runs(client, record["id"])] == [run_id]
    assert client.get_run(partial.info.run_id).info.lifecycle_stage == "deleted"
    assert client.get_run(child.info.run_id).info.lifecycle_stage == "deleted"
    check_logged(client, run_id, record)


def test_records_without_id_are_the_runners_bug(tmp_path):
    with pytest.raises(ValueError):
        spool({"pipeline": "churn"}, tmp_path)
    with pytest.raises(ValueError):
        spool({"id": "../escape", "pipeline": "churn"}, tmp_path)


def test_tracking_errors_are_workbench_errors():
    assert issubclass(TrackingUnavailable, TrackingError)
    assert issubclass(TrackingError, WorkbenchError)
    error = TrackingUnavailable("cannot reach", hint="start it")
    assert error.to_dict()["kind"] == "TrackingUnavailable"


def test_unreachable_server_fails_fast(tmp_path):
    """Nothing listens on the port: refused at once, not after MLflow's minutes of retries."""
    environ = dict(os.environ)
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(TrackingUnavailable) as info:
        log_run(make_record(tmp_path), tmp_path, uri)
    assert time.monotonic() - start < 5
    assert uri in info.value.message
    assert dict(os.environ) == environ  # the fast-fail settings are ours only while we track
    with pytest.raises(TrackingUnavailable):
        find_runs(tmp_path, uri=uri)


@pytest.mark.slow
def test_a_server_that_never_answers_costs_seconds(tmp_path):
    """Connected but silent (a hung server): the HTTP timeout ends it, not MLflow's 120 s x 7 retries."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes connections; nobody ever reads or answers
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TrackingUnavailable):
            log_run(make_record(tmp_path), tmp_path, uri)
        assert time.monotonic() - start < 15


# --------------------------------------------------------------------------------------------------
# a real MLflow server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`mlflow server` on a SQLite database in a temporary folder; start() and stop() keep the database."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true",
                        # no genai job runner and its worker processes: not needed, slower start
                        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
                        # a restart should not recompile MLflow: bytecode cached outside the venv
                        PYTHONPYCACHEPREFIX=str(folder / "pycache"))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env.pop("MLFLOW_TRACKING_URI", None)

    def start(self) -> None:
        self.log = open(self.folder / "server.log", "ab")  # closed by stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.folder / 'srv.db'}",
             "--artifacts-destination", str(self.folder / "artifacts"), "--workers", "1"],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=self.folder, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.folder / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"mlflow server not up in 90 s: {(self.folder / 'server.log').read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # workers that outlived their parent
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("mlflow-server"))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
def test_server_outage_spool_and_sync(server, tmp_path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.uri)
    first = make_record(tmp_path, "20261123-100000-000001")
    run_id = log_run(first, tmp_path, server.uri)
    check_logged(client, run_id, first)
    assert client.get_experiment_by_name("workbench/churn").artifact_location.startswith("mlflow-artifacts:")
    assert not (tmp_path / ".workbench").exists()  # nothing local when a server is used

    # the server goes away: fail fast, keep the records
    server.stop()
    second = make_record(tmp_path, "20261123-110000-000002", started=STARTED + 200)
    third = make_record(tmp_path, "20261123-103000-000003", started=STARTED + 100,
                        metrics={"auc": 0.83, "accuracy": 0.79, "f1": 0.5})
    start = time.monotonic()
    with pytest.raises(TrackingUnavailable):
        log_run(second, tmp_path, server.uri)
    assert time.monotonic() - start < 15
    for record in (second, third, first):  # `first` again: it must not be logged twice
        spool(record, tmp_path)
    with pytest.raises(TrackingUnavailable) as info:
        sync(tmp_path, server.uri)
    assert info.value.delivered == []
    assert len(list((tmp_path / ".workbench" / "unsynced").glob("*.json"))) == 3

    # back: every spooled record arrives once, oldest first
    server.start()
    delivered = dict(sync(tmp_path, server.uri))
    assert list(delivered) == [first["id"], third["id"], second["id"]]
    assert delivered[first["id"]] == run_id
    assert list((tmp_path / ".workbench" / "unsynced").glob("*.json")) == []
    assert sync(tmp_path, server.uri) == []

    for record in (first, second, third):
        assert len(parent_runs(client, record["id"])) == 1
        check_logged(client, delivered[record["id"]], record)
    found = find_runs(tmp_path, "churn", server.uri)
    assert [r["id"] for r in found] == [second["id"], third["id"], first["id"]]
    for got, record in zip(found, (second, third, first)):
        assert got["metrics"] == record["metrics"]
        assert got["params"] == record["params"]
