"""The Python API (`workbench.plan`, `export`, `run`, `verify`...) with typed events, in-process,
with real kernels and real pipelines; and the CLI's `--events jsonl`, which the server's jobs read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from harness import workbench as cli

import workbench
from workbench.core import events as ev
from workbench.core.errors import RunError
from workbench.core.plan import Plan

pytestmark = pytest.mark.slow

SMALL = {"n_customers": 500, "n_estimators": 10}
TASKS = ["load", "features", "split", "train", "evaluate"]


def test_import_workbench_is_light_and_the_api_is_lazy():
    code = "import sys, workbench; print(sorted(m for m in ('pandas', 'mlflow', 'ploomber', 'workbench.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
    assert {"plan", "export", "run", "verify", "rerun", "sweep", "package", "promote", "runs", "lineage",
            "log_metric", "xp", "load_ipython_extension"} <= set(workbench.__all__)
    from workbench import api

    assert workbench.run is api.run and workbench.verify is api.verify
    with pytest.raises(AttributeError):
        _ = workbench.no_such_thing


def test_plan_returns_a_plan(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    plan = workbench.plan("notebooks/churn.ipynb")
    assert isinstance(plan, Plan)
    assert plan.order == TASKS and "n_estimators" in plan.parameters


def test_export_then_run_reports_typed_events_in_order(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    exported = workbench.export("notebooks/churn.ipynb")
    assert exported.directory == Path("pipelines/churn") and "pipeline.yaml" in exported.written
    received: list[ev.Event] = []
    outcome = workbench.run("notebooks/churn.ipynb", SMALL, tracking="off", version=False, on_event=received.append)
    assert outcome.status == "FINISHED" and outcome.ok and outcome.error is None
    assert outcome.ran == TASKS and outcome.run_id and outcome.record["id"] == outcome.run_id
    assert set(outcome.metrics) >= {"auc", "accuracy"} and 0 < outcome.metrics["auc"] <= 1
    kinds = [type(e).__name__ for e in received]
    for task in TASKS:
        started = next(i for i, e in enumerate(received) if isinstance(e, ev.TaskStarted) and e.task == task)
        finished = next(i for i, e in enumerate(received) if isinstance(e, ev.TaskFinished) and e.task == task)
        assert started < finished, kinds
        assert received[finished].seconds >= 0
    assert isinstance(received[-1], ev.RunFinished), kinds
    last = received[-1]
    assert last.run_id == outcome.run_id and last.status == "FINISHED" and last.ran == TASKS
    assert last.metrics == outcome.metrics
    # every event survives its dict form (what --events jsonl writes)
    for e in received:
        data = json.loads(json.dumps(e.to_dict()))
        assert data["event"] == e.kind and "status" in data and ev.from_dict(data) == e
    # nothing changed: every task is skipped, nothing is recorded
    again: list[ev.Event] = []
    second = workbench.run(exported.directory, SMALL, tracking="off", version=False, on_event=again.append)
    assert second.status == "UP_TO_DATE" and second.run_id is None and second.ran == []
    assert [e.task for e in again if isinstance(e, ev.TaskSkipped)] == TASKS
    assert not any(isinstance(e, (ev.TaskStarted, ev.TaskFinished)) for e in again)
    assert isinstance(again[-1], ev.RunFinished) and again[-1].status == "UP_TO_DATE"
    runs = workbench.runs("churn")
    assert [r["id"] for r in runs] == [outcome.run_id]


def test_verify_returns_a_report_with_rows_and_events(make_notebook, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = make_notebook([("n = 3", "parameters"), ("x = list(range(n))", "task:a"),
                        ("total = sum(x)\nlabel = 'a long label ' * 20", "task:b")])
    received: list[ev.Event] = []
    report = workbench.verify(nb, {"n": 4}, output=tmp_path / "pipe", on_event=received.append)
    assert report.ok
    rows = {r.variable: r for r in report.rows}
    assert {"x", "total", "label"} <= set(rows) and rows["total"].status == "equal"
    verify_rows = [e for e in received if isinstance(e, ev.VerifyRow)]
    assert {(e.task, e.name) for e in verify_rows} == {(r.task, r.variable) for r in report.rows}
    assert all(e.verdict == "equal" for e in verify_rows)
    assert isinstance(received[-1], ev.VerifyFinished) and received[-1].ok
    assert received[-1].summary == report.summary()
    assert [e.task for e in received if isinstance(e, ev.TaskStarted)] == ["a", "b"]


def test_a_failing_task_gives_task_failed_naming_the_cell(make_notebook, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb = make_notebook([("x = 1", "task:a"), ("y = x / 0", "task:b")])
    received: list[ev.Event] = []
    outcome = workbench.run(nb, tracking="off", version=False, on_event=received.append)
    assert outcome.status == "FAILED" and isinstance(outcome.error, RunError)
    failed = [e for e in received if isinstance(e, ev.TaskFailed)]
    assert len(failed) == 1 and failed[0].task == "b" and failed[0].cell == 1, failed
    assert "ZeroDivisionError" in failed[0].error and "task 'b' failed" in failed[0].message
    assert [e.task for e in received if isinstance(e, ev.TaskFinished)] == ["a"]
    assert isinstance(received[-1], ev.RunFinished) and received[-1].status == "FAILED"
    assert outcome.record["status"] == "FAILED"
    with pytest.raises(RunError):
        outcome.raise_for_status()


def _events(stdout: str) -> list[dict]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line of stdout is an event


def test_cli_events_jsonl_has_only_events_on_stdout(make_notebook, tmp_path: Path):
    nb = make_notebook([("n = 3", "parameters"), ("x = list(range(n))", "task:a"), ("y = x[0] / 0", "task:b")])
    proc = cli("run", nb, "-o", tmp_path / "pipe", "--events", "jsonl", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    events = _events(proc.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["task_started", "task_finished", "task_started"], kinds
    failed = next(e for e in events if e["event"] == "task_failed")
    assert failed["task"] == "b" and failed["status"] == "failed" and failed["cell"] == 2
    assert events[-1]["event"] == "message" and events[-1]["level"] == "error"
    assert "ZeroDivisionError" in events[-1]["text"]
    assert "error: " in proc.stderr and "running a" not in proc.stderr  # the human error stays on stderr
    # verify: a verify_row per value, its whole detail, then the verdict
    proc = cli("verify", nb, "-o", tmp_path / "pipe2", "--events", "jsonl", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr  # the notebook itself fails: an error, as an event too
    assert _events(proc.stdout)[-1]["level"] == "error"
    long = make_notebook([("n = 3", "parameters"), ("x = list(range(n))", "task:a"),
                          ("text = 'word ' * 40 + str(sum(x))\nlen(text)", "task:b")], name="long.ipynb")
    proc = cli("verify", long, "-o", tmp_path / "pipe3", "--events", "jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    events = _events(proc.stdout)
    rows = [e for e in events if e["event"] == "verify_row"]
    assert {(r["task"], r["name"], r["compared"]) for r in rows} == {
        ("a", "x", "value"), ("b", "text", "value"), ("b", "cell2:output", "output")}, rows
    assert all(r["verdict"] == r["status"] == "equal" for r in rows)
    finished = [e for e in events if e["event"] == "verify_finished"]
    assert len(finished) == 1 and finished[0]["ok"] is True and "reproduces" in finished[0]["summary"]
    # without --events: the same text lines as ever, on stderr
    proc = cli("run", long, "-o", tmp_path / "pipe4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "running a (never ran)" in proc.stderr.splitlines() and "ran 2 of 2 task(s)" in proc.stdout
    assert any(line.startswith("  a done in ") for line in proc.stderr.splitlines())


def test_server_job_reads_events_not_text(tmp_path: Path):
    """jobs.Job folds the CLI's event lines into tasks, events and the verify verdict."""
    from workbench.lab.server.jobs import Job

    job = Job("j1", "verify", "nb.ipynb", {}, False, tmp_path, None, tasks={"a": "pending", "b": "pending"})
    lines = [ev.TaskStarted("a", "never ran"), ev.TaskFinished("a", 0.5), ev.TaskSkipped("b"),
             ev.VerifyRow("a", "x", "equal", "d" * 200), ev.VerifyRow("a", "cell1:output", "equal", compared="output"),
             ev.VerifyFinished(True, "the pipeline reproduces it")]
    job.on_stdout("running a (never ran)\n")  # text is not an event: kept, ignored
    for event in lines:
        job.on_stdout(json.dumps(event.to_dict()) + "\n")
    assert job.tasks == {"a": "done", "b": "up to date"}
    assert [e["event"] for e in job.events] == [e.kind for e in lines]
    assert all("time" in e for e in job.events)
    assert job.events[0] == {**lines[0].to_dict(), "time": job.events[0]["time"]}
    data = job.to_dict()
    assert data["verify"] == {"ok": True, "summary": "the pipeline reproduces it",
                              "rows": [{"task": "a", "name": "x", "verdict": "equal", "detail": "d" * 200,
                                        "compared": "value"},
                                       {"task": "a", "name": "cell1:output", "verdict": "equal", "detail": "",
                                        "compared": "output"}]}
    job.on_stdout(json.dumps(ev.Message("task 'c' failed\n  ZeroDivisionError", level="error").to_dict()) + "\n")
    job.finish(1)
    assert job.status == "failed" and job.error.startswith("task 'c' failed")


def test_no_subpackage_shadows_an_api_function():
    """Importing `workbench.X.y` sets the attribute `workbench.X` to the subpackage, so a subpackage
    named like an API function (`verify/`, `lineage/` once) turns `workbench.verify(...)` into
    "'module' object is not callable" as soon as anything imported it."""
    import importlib
    import pkgutil

    api = importlib.import_module("workbench.api")
    children = {m.name for m in pkgutil.iter_modules(workbench.__path__)}
    assert not children & set(api.__all__), children & set(api.__all__)
    importlib.import_module("workbench.verification.pipeline")
    importlib.import_module("workbench.provenance.records")
    assert workbench.verify is api.verify and workbench.lineage is api.lineage
