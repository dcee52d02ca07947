"""The Workbench REST API in a real JupyterLab server, started as a user would (`jupyter lab`).

One server per module, on 127.0.0.1 with a known token, serving a scratch project: a copy of
notebooks/churn.ipynb, a notebook the planner rejects, one that fails at run time, and symlinks
that lead outside the root. Nothing is mocked: requests go over HTTP, jobs run the real CLI.

The server gets no extension flags on its command line: the config installed into the venv
(`make install`: jupyter-config/ -> .venv/etc/jupyter/) must enable `workbench.server` and switch
Ploomber's server extensions off, or the contents API answers 500 and no notebook opens.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from harness import ROOT
from helpers import write_notebook

pytestmark = pytest.mark.slow

TOKEN = "workbench-test-token-5f1c"
JUPYTER = Path(sys.executable).parent / "jupyter"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, log: Path, port: int, process: subprocess.Popen) -> None:
        self.root, self.log, self.port, self.process = root, log, port, process
        self.url = f"http://127.0.0.1:{port}"
        self.api = f"{self.url}/workbench/api"
        self.headers = {"Authorization": f"token {TOKEN}"}

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.api + path, headers=kw.pop("headers", self.headers), timeout=60, **kw)

    def post(self, path: str, json=None, **kw) -> requests.Response:
        return requests.post(self.api + path, json=json, headers=kw.pop("headers", self.headers), timeout=60, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return requests.delete(self.api + path, headers=kw.pop("headers", self.headers), timeout=60, **kw)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_job(self, job_id: str, timeout: float = 240, until=lambda job: job["status"] != "running") -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/jobs/{job_id}").json()
            if until(job):
                return job
            assert time.monotonic() < deadline, f"job still {job['status']} after {timeout}s: {job}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    base = tmp_path_factory.mktemp("server")
    root = base / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "churn.ipynb", root / "notebooks" / "churn.ipynb")
    write_notebook(root / "notebooks" / "bad.ipynb", [("x = 1", "task:a"), ("y = (x +\n  2\nz = 3", "task:b")])
    write_notebook(root / "notebooks" / "fails.ipynb", [("n = 3", "parameters"), ("a = n * 2", "task:a"),
                                                        ("b = a / (n - 3)", "task:b")])
    outside = base / "outside"
    outside.mkdir()
    write_notebook(outside / "secret.ipynb", [("SECRET_VALUE = 'do-not-leak'", "task:secret")])
    (root / "notebooks" / "link.ipynb").symlink_to(outside / "secret.ipynb")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    log = base / "server.log"
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "user-config"),  # no ~/.jupyter config
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "WORKBENCH_TRACKING": "off",
           "PLOOMBER_STATS_ENABLED": "false"}
    argv = [str(JUPYTER), "lab", "--allow-root", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0"]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    srv = Server(root, log, port, process)
    started = time.monotonic()
    try:
        while True:
            assert process.poll() is None, f"jupyter lab exited ({process.returncode}):\n{srv.log_text()}"
            try:
                if requests.get(f"{srv.url}/api/status", headers=srv.headers, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() - started < 90, f"jupyter lab did not answer in 90s:\n{srv.log_text()}"
            time.sleep(0.25)
        srv.startup_seconds = time.monotonic() - started
        yield srv
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


# ---------------------------------------------------------------- JupyterLab itself works


def test_contents_api_works_and_ploomber_extension_is_off(server):
    r = requests.get(f"{server.url}/api/contents/notebooks/churn.ipynb", headers=server.headers, timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["type"] == "notebook" and r.json()["content"]["cells"]
    r = requests.put(f"{server.url}/api/contents/notebooks/copy.ipynb", headers=server.headers, timeout=30,
                     json={"type": "notebook", "content": r.json()["content"]})
    assert r.status_code in (200, 201), r.text[:500]
    log = server.log_text()
    assert "workbench.server | extension was successfully loaded" in log
    assert "PloomberContentsManager" not in log and "Traceback" not in log, log
    # the lab page lists ploomber-extension among the disabled extensions
    page = requests.get(f"{server.url}/lab", headers=server.headers, timeout=30).text
    assert '"disabledExtensions": ["ploomber-extension"' in page or "ploomber-extension" in page.split(
        '"disabledExtensions"', 1)[1][:200], "ploomber-extension is not disabled"


# ---------------------------------------------------------------- plan


def test_plan_of_churn(server):
    r = server.get("/plan", params={"path": "notebooks/churn.ipynb"})
    assert r.status_code == 200, r.text
    plan = r.json()["plan"]
    assert plan["notebook"] == "notebooks/churn.ipynb"
    assert plan["order"] == ["load", "features", "split", "train", "evaluate"]
    tasks = {t["name"]: t for t in plan["tasks"]}
    assert tasks["features"]["upstream"]["load"]["variables"] == ["raw"]
    assert set(plan["parameters"]) == {"n_customers", "seed", "learning_rate", "n_estimators", "test_size"}


def test_plan_of_unsaved_content(server):
    """POST plans the notebook as the editor holds it, not as saved."""
    content = requests.get(f"{server.url}/api/contents/notebooks/churn.ipynb", headers=server.headers,
                           timeout=30).json()["content"]
    content["cells"].append({"cell_type": "code", "id": "new-report", "metadata": {"tags": ["task:report"]},
                             "execution_count": None, "outputs": [], "source": "summary = f'{auc:.3f}'"})
    r = server.post("/plan", {"path": "notebooks/churn.ipynb", "content": content})
    assert r.status_code == 200, r.text
    plan = r.json()["plan"]
    assert plan["order"][-1] == "report"
    assert plan["tasks"][-1]["upstream"]["evaluate"]["variables"] == ["auc"]
    assert "report" not in [t["name"] for t in server.get("/plan", params={"path": "notebooks/churn.ipynb"})
                            .json()["plan"]["tasks"]]


def test_bad_notebook_is_400_with_its_cell_and_line(server):
    for r in (server.get("/plan", params={"path": "notebooks/bad.ipynb"}),
              server.post("/plan", {"path": "notebooks/bad.ipynb"})):
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["kind"] == "PlanError"
        assert "never closed" in error["message"] and error["hint"]
        assert error["location"] == {"notebook": "notebooks/bad.ipynb", "cell": 1, "cell_id": "c001", "line": 1}


def test_missing_and_malformed_requests(server):
    assert server.get("/plan", params={"path": "notebooks/nope.ipynb"}).status_code == 404
    assert server.get("/plan").status_code == 400
    assert server.get("/plan", params={"path": "notebooks"}).status_code == 400  # a folder
    r = requests.post(server.api + "/plan", data="{not json", headers=server.headers, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["kind"] == "BadRequest"
    assert server.post("/jobs", {"action": "rm", "path": "notebooks/churn.ipynb"}).status_code == 400
    assert server.get("/jobs/0123abcd").status_code == 404


# ---------------------------------------------------------------- security


ENDPOINTS = [
    ("GET", "/plan?path=notebooks/churn.ipynb", None),
    ("POST", "/plan", {"path": "notebooks/churn.ipynb"}),
    ("POST", "/export", {"path": "notebooks/churn.ipynb", "output": "pipelines/stolen"}),
    ("POST", "/jobs", {"action": "run", "path": "notebooks/churn.ipynb"}),
    ("GET", "/jobs", None),
    ("GET", "/runs", None),
]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "token wrong-token"}], ids=["no-token", "wrong-token"])
def test_requests_without_the_token_are_refused(server, headers):
    jobs_before = len(server.get("/jobs").json()["jobs"])
    for method, path, body in ENDPOINTS:
        r = requests.request(method, server.api + path, json=body, headers=headers, timeout=30)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "tasks" not in r.text and "churn" not in r.text and "plan" not in r.json(), r.text
    assert not (server.root / "pipelines" / "stolen").exists()
    assert len(server.get("/jobs").json()["jobs"]) == jobs_before  # no job was started
    r = requests.get(server.api + "/plan?path=notebooks/churn.ipynb&token=wrong-token", timeout=30)
    assert r.status_code == 403


def test_cookie_auth_needs_xsrf_for_post(server):
    """A browser logs in once (token in the URL), then uses the login cookie: GET works, and a
    state-changing request must carry the _xsrf cookie's value as X-XSRFToken."""
    browser = requests.Session()
    assert browser.get(f"{server.url}/lab?token={TOKEN}", timeout=30).status_code == 200
    assert any(c.name.startswith("username-") for c in browser.cookies), list(browser.cookies)
    assert browser.get(server.api + "/plan", params={"path": "notebooks/churn.ipynb"}, timeout=30).status_code == 200
    body = {"path": "notebooks/churn.ipynb"}
    r = browser.post(server.api + "/plan", json=body, timeout=30)
    assert r.status_code == 403 and "plan" not in r.text, r.text
    r = browser.post(server.api + "/jobs", json={"action": "run", "path": "notebooks/churn.ipynb"}, timeout=30)
    assert r.status_code == 403
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf, "no _xsrf cookie"
    r = browser.post(server.api + "/plan", json=body, headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code == 200 and r.json()["plan"]["name"] == "churn"


@pytest.mark.parametrize("path, status", [
    ("../x.ipynb", 403),
    ("notebooks/../../x.ipynb", 403),
    ("/etc/passwd", 400),
    (str(ROOT / "notebooks" / "churn.ipynb"), 400),
    ("notebooks/link.ipynb", 403),  # a symlink to a notebook outside the root
    ("linked/secret.ipynb", 403),  # through a symlinked folder
])
def test_paths_outside_the_root_are_refused(server, path, status):
    responses = [
        server.get("/plan", params={"path": path}),
        server.post("/plan", {"path": path}),
        server.post("/plan", {"path": path, "content": {"cells": [], "nbformat": 4, "nbformat_minor": 5}}),
        server.post("/export", {"path": path}),
        server.post("/jobs", {"action": "run", "path": path}),
    ]
    for r in responses:
        assert r.status_code == status, (path, r.status_code, r.text)
        assert "do-not-leak" not in r.text and "root:" not in r.text
    r = server.post("/export", {"path": "notebooks/churn.ipynb", "output": "../escaped"})
    assert r.status_code == 403
    r = server.post("/export", {"path": "notebooks/churn.ipynb", "output": "linked/pipeline"})
    assert r.status_code == 403
    assert not (server.root.parent / "escaped").exists() and not (server.root.parent / "outside" / "pipeline").exists()


# ---------------------------------------------------------------- export


def test_export_writes_the_pipeline(server):
    r = server.post("/export", {"path": "notebooks/churn.ipynb"})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["directory"] == "pipelines/churn"
    assert {"pipeline.yaml", "env.yaml", "tasks/load.py", "tasks/evaluate.py"} <= set(result["written"])
    pipeline = server.root / "pipelines" / "churn"
    assert (pipeline / "pipeline.yaml").is_file() and (pipeline / "tasks" / "train.py").is_file()
    again = server.post("/export", {"path": "notebooks/churn.ipynb"}).json()
    assert again["written"] == [] and "pipeline.yaml" in again["unchanged"]
    # a hand-edited generated file: 409 ExportConflict, then force keeps a backup
    script = pipeline / "tasks" / "load.py"
    script.write_text(script.read_text() + "\n# my edit\n")
    r = server.post("/export", {"path": "notebooks/churn.ipynb"})
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["kind"] == "ExportConflict" and "tasks/load.py" in error["detail"] and "--force" in error["hint"]
    r = server.post("/export", {"path": "notebooks/churn.ipynb", "force": True})
    assert r.status_code == 200 and r.json()["written"] == ["tasks/load.py"] and r.json()["backups"]
    r = server.post("/export", {"path": "notebooks/churn.ipynb", "output": "pipelines/other"})
    assert r.status_code == 200 and r.json()["directory"] == "pipelines/other"
    assert (server.root / "pipelines" / "other" / "pipeline.yaml").is_file()


def test_a_second_notebook_of_the_same_name_gets_its_own_pipeline_and_runs(server):
    """The panel listed the runs of pipelines/<notebook name>/ for every notebook of that name:
    with notebooks/churn.ipynb exported there, sales/churn.ipynb's panel showed churn's runs."""
    assert server.post("/export", {"path": "notebooks/churn.ipynb"}).status_code == 200
    (server.root / "sales").mkdir(exist_ok=True)
    shutil.copy(server.root / "notebooks" / "churn.ipynb", server.root / "sales" / "churn.ipynb")
    first = server.get("/plan", params={"path": "notebooks/churn.ipynb"}).json()
    second = server.get("/plan", params={"path": "sales/churn.ipynb"}).json()
    assert first["pipeline"] == {"name": "churn", "directory": "pipelines/churn"}
    assert second["pipeline"] == {"name": "sales_churn", "directory": "pipelines/sales_churn"}
    assert first["plan"]["name"] == second["plan"]["name"] == "churn"  # the plan itself is the notebook's
    r = server.post("/export", {"path": "sales/churn.ipynb"})
    assert r.status_code == 200 and r.json()["directory"] == second["pipeline"]["directory"], r.text
    assert server.get("/runs", params={"pipeline": "sales_churn"}).json()["runs"] == []


# ---------------------------------------------------------------- jobs


def test_run_job_succeeds_with_progress_and_products(server):
    r = server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb", "params": {"n_estimators": 20}})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = server.wait_job(job_id)
    assert job["status"] == "succeeded", job
    tasks = ["load", "features", "split", "train", "evaluate"]
    assert job["tasks"] == {t: "done" for t in tasks}
    running = [e["task"] for e in job["events"] if e["status"] == "running"]
    done = {e["task"]: e["seconds"] for e in job["events"] if e["status"] == "done"}
    assert running == tasks and set(done) == set(tasks) and all(s >= 0 for s in done.values())
    assert "ran 5 of 5 task(s)" in job["stdout"]
    assert job["argv"][-2:] == ["notebooks/churn.ipynb", "--param=n_estimators=20"]
    products = job["products"]
    assert set(products) == set(tasks)
    assert products["train"]["clf"] > 1000 and products["split"]["X_train"] > 1000
    assert set(products["evaluate"]) == {"proba", "auc", "accuracy"}
    listed = server.get("/jobs").json()["jobs"]
    assert any(j["id"] == job_id and j["status"] == "succeeded" for j in listed)
    # the run was recorded; runs lists it
    runs = server.get("/runs", params={"pipeline": "churn"}).json()
    assert runs["runs"] and runs["runs"][0]["params"]["n_estimators"] == 20
    assert "mlflow_ui" in runs
    assert server.get("/runs", params={"pipeline": "nope"}).json()["runs"] == []
    # nothing changed: a second run is up to date
    job = server.wait_job(server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb",
                                                "params": {"n_estimators": 20}}).json()["id"])
    assert job["status"] == "succeeded" and set(job["tasks"].values()) == {"up to date"}, job


def test_job_is_cancelled(server):
    r = server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb", "force": True})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = server.wait_job(job_id, 120, until=lambda j: j["events"] or j["status"] != "running")
    assert job["status"] == "running", job
    r = server.delete(f"/jobs/{job_id}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    job = server.wait_job(job_id, 30, until=lambda j: j["ended"] is not None)
    assert job["status"] == "cancelled" and job["returncode"] != 0
    assert "cancelled" in job["tasks"].values() or "done" in job["tasks"].values()
    # no task of a cancelled job still claims to be waiting or running
    assert not {"pending", "running"} & set(job["tasks"].values()), job["tasks"]
    with pytest.raises(ProcessLookupError):
        os.killpg(job["pid"], 0)  # the whole process group is gone
    assert server.delete(f"/jobs/{job_id}").json()["status"] == "cancelled"  # idempotent


def test_failed_job_reports_the_error(server):
    r = server.post("/jobs", {"action": "run", "path": "notebooks/fails.ipynb"})
    assert r.status_code == 202, r.text
    job = server.wait_job(r.json()["id"])
    assert job["status"] == "failed", job
    assert "ZeroDivisionError" in job["error"], job["error"]
    assert job["tasks"]["a"] == "done" and job["tasks"]["b"] == "failed"


def test_job_requests_are_checked_before_starting(server):
    r = server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb", "params": {"n_estimator": 3}})
    assert r.status_code == 400 and r.json()["error"]["kind"] == "ParameterError", r.text
    r = server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb", "params": {"seed": "abc"}})
    assert r.status_code == 400 and "int" in r.json()["error"]["message"], r.text
    r = server.post("/jobs", {"action": "verify", "path": "notebooks/bad.ipynb"})
    assert r.status_code == 400 and r.json()["error"]["location"]["cell"] == 1
    r = server.post("/jobs", {"action": "run", "path": "notebooks/churn.ipynb", "params": {"--force": 1}})
    assert r.status_code == 400


def test_server_stays_responsive_and_log_is_clean(server):
    started = time.monotonic()
    assert requests.get(f"{server.url}/api/status", headers=server.headers, timeout=10).status_code == 200
    assert time.monotonic() - started < 2
    log = server.log_text()
    assert "Traceback" not in log, log
    assert " 500 " not in log, log


# ---------------------------------------------------------------- load


def test_fifty_concurrent_plans_of_a_thousand_cell_notebook(server):
    """All answered, all correct, and the server answers other requests meanwhile. (Latency is
    measured by benchmarks/server_load.py, not asserted here.)"""
    from concurrent.futures import ThreadPoolExecutor

    cells = []
    for t in range(200):
        cells.append((f"v{t} = {f'v{t - 1}' if t else 0} + 1", f"task:t{t}"))
        cells += [f"w{t}_{k} = v{t} * {k}" for k in range(4)]
    write_notebook(server.root / "notebooks" / "big.ipynb", cells)

    def plan(i: int) -> requests.Response:
        if i % 2:  # half by path, half with the content the editor holds
            return server.get("/plan", params={"path": "notebooks/big.ipynb"})
        from helpers import notebook_dict

        return server.post("/plan", {"path": "notebooks/big.ipynb", "content": notebook_dict(cells)})

    with ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(plan, i) for i in range(50)]
        status = requests.get(f"{server.url}/api/status", headers=server.headers, timeout=30)
        replies = [f.result() for f in futures]
    assert status.status_code == 200
    for r in replies:
        assert r.status_code == 200, r.text[:500]
        plan = r.json()["plan"]
        assert len(plan["cells"]) == 1000 and len(plan["tasks"]) == 200
        assert plan["tasks"][199]["upstream"]["t198"]["variables"] == ["v198"]


def test_plan_and_export_never_execute_code(server):
    """The API's plan and export only read code (see tests/test_static_only.py for the CLI)."""
    from test_static_only import CELLS, marks

    folder = server.root / "static"
    write_notebook(folder / "nb.ipynb", CELLS)
    assert server.get("/plan", params={"path": "static/nb.ipynb"}).status_code == 200
    assert server.post("/plan", {"path": "static/nb.ipynb"}).status_code == 200
    r = server.post("/export", {"path": "static/nb.ipynb", "output": "static/pipeline"})
    assert r.status_code == 200, r.text
    assert (folder / "pipeline" / "tasks" / "a.py").exists()
    assert marks(server.root) == [], "the API executed notebook code"


def test_package_jobs_are_checked_before_starting(server):
    r = server.post("/jobs", {"action": "package", "path": "notebooks/churn.ipynb", "params": {"seed": 3}})
    assert r.status_code == 400 and "no parameters" in r.text, r.text
    r = server.post("/jobs", {"action": "package", "path": "notebooks/fails.ipynb"})
    assert r.status_code == 400 and "no model" in r.json()["error"]["message"], r.text
    r = server.post("/jobs", {"action": "deploy", "path": "notebooks/churn.ipynb"})
    assert r.status_code == 400 and "package" in r.text
